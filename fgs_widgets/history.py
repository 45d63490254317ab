"""The Python-equivalent history of a Session, written by one decorator over its actions.

``@recorded()`` on an action appends ``session.<action>(<arguments as given>)`` to
``session.history`` once the action succeeded: when it returned, or, for a job
started with ``block=False`` (a widget's click), when the job ended DONE; a failed
or cancelled run writes nothing.  Job actions are written blocking (``block=True``
where that is not the default), so a script of the lines waits where the user did.
Arguments left at their defaults are not written (but those an action names in
``shown``: a choice the reader should see, such as what a periodogram removed);
secrets and plumbing (``token``, ``progress``) never are, and a token given as text
is masked (`Token`) before the action runs, so no frame of a traceback holds it.
The line is built from the call itself, so it cannot drift from the signature.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

__all__ = ["python_literal", "recorded"]

F = TypeVar("F", bound=Callable[..., Any])

#: never written into the history: secrets and arguments that only steer the run
NOT_RECORDED = ("token", "progress", "block")
#: arrays larger than this are written as ``...`` (a runnable placeholder), not in full
MAX_ARRAY_ITEMS = 20


def python_literal(value: Any) -> str:
    """``value`` as Python source a script can run (paths as strings, small arrays as lists,
    larger ones as ``...``)."""
    if isinstance(value, os.PathLike):
        return repr(os.fspath(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, np.ndarray):
        return repr(value.tolist()) if value.size <= MAX_ARRAY_ITEMS else "..."
    if type(value).__name__ in ("DataFrame", "Table", "QTable"):  # a table given in memory
        return "..."
    if isinstance(value, (list, tuple)):
        items = ", ".join(python_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items}{',' if len(value) == 1 else ''})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}"
                               for k, v in value.items()) + "}"
    return repr(value)


def _call(name: str, signature: inspect.Signature, arguments: Mapping[str, Any],
          shown: tuple[str, ...] = ()) -> str:
    parts = []
    block = signature.parameters.get("block")
    parameters = list(signature.parameters.values())[1:]  # without self
    for i, parameter in enumerate(parameters):
        default = parameter.default
        if parameter.name in NOT_RECORDED:
            continue
        if parameter.name not in arguments:
            if parameter.name in shown and default is not parameter.empty:
                parts.append(f"{parameter.name}={python_literal(default)}")
            continue
        value = arguments[parameter.name]
        if parameter.kind is parameter.VAR_KEYWORD:
            parts += [f"{k}={python_literal(v)}" for k, v in value.items()
                      if k not in NOT_RECORDED]
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            parts += [python_literal(v) for v in value]
            continue
        if default is not parameter.empty and _same(value, default) \
                and parameter.name not in shown:
            continue
        positional = i == 0 and parameter.kind is not parameter.KEYWORD_ONLY
        parts.append(python_literal(value) if positional
                     else f"{parameter.name}={python_literal(value)}")
    if block is not None and block.default is False:  # a job: the script waits for it
        parts.append("block=True")
    return f"session.{name}({', '.join(parts)})"


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default) and type(value) is type(default)
    except (TypeError, ValueError):  # arrays and other values without one truth value
        return False


def recorded(before: Callable[[Any, Mapping[str, Any]], list[str]] | None = None,
             comment: str = "", shown: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorate a Session action so a successful call appends its Python line to ``history``.

    Parameters
    ----------
    before : callable(session, arguments) -> list of str, optional
        Lines that must precede the call for a script to do the same (e.g. the
        ``session.window = ...`` a periodogram depends on).
    comment : str
        Appended to the line (e.g. where a script gets its token from).
    shown : tuple of str
        Keyword arguments written even when left at their defaults (the
        keyword form), so the line says the choice (e.g. a periodogram's
        ``detrend``) and keeps meaning it if a default changes.
    """

    def decorate(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            from .archive.tokens import Token
            from .jobs import Run

            bound = signature.bind(self, *args, **kwargs)
            args = kwargs = None  # type: ignore[assignment]  # the raw token lives in bound only
            for name, value in bound.arguments.items():
                if isinstance(value, Iterator):  # a generator would be used up by the call
                    bound.arguments[name] = list(value)
            if isinstance(bound.arguments.get("token"), str):
                bound.arguments["token"] = Token(bound.arguments["token"])
            value = None
            result = method(*bound.args, **bound.kwargs)
            lines = list(before(self, bound.arguments)) if before else []
            lines.append(_call(method.__name__, signature, bound.arguments, shown)
                         + (f"  # {comment}" if comment else ""))

            def record() -> None:
                self.history = [*self.history, *lines]

            if isinstance(result, Run):
                result.when_done(record)  # written when (and if) the job succeeds
            else:
                record()
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
