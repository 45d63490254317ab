"""Hatch build hook: bundle ``js/`` into ``fgs_widgets/static/`` with esbuild at build time.

Runs for ``pip install .``, ``pip install -e .``, ``python -m build`` (wheel and sdist).

A small custom hook rather than hatch-jupyter-builder: the front-end is one esbuild
call with no JupyterLab extension to build, so the hook needs no extra build
dependency, rebuilds only when a source is newer than the bundle, reinstalls
``node_modules`` only when the lockfile changed (offline rebuilds work), and can say
exactly what is missing when node is absent.

Behaviour
---------
- bundle up to date: nothing runs (an sdist carries its bundle, so installing one
  needs no node);
- bundle missing or stale, node and npm present: ``npm ci`` (when ``node_modules`` is
  missing or older than ``package-lock.json``) then ``npm run build``;
- bundle stale, no node: the existing bundle is used, with a warning;
- bundle missing, no node: the build fails with instructions.

``FGS_WIDGETS_SKIP_JS=1`` skips the JavaScript step entirely (uses whatever bundle exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: the ES modules `npm run build` writes (one per anywidget)
BUNDLES = ("fgs_widgets/static/frame_viewer.js", "fgs_widgets/static/pointer.js",
           "fgs_widgets/static/series_lines.js")


class FrontendBuildHook(BuildHookInterface):
    """Build the widgets' ES modules and ship them as wheel/sdist artifacts."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        bundles = [root / name for name in BUNDLES]
        js = root / "js"
        if os.environ.get("FGS_WIDGETS_SKIP_JS") != "1" and (js / "package.json").exists():
            self._build(js, bundles)
        for bundle in bundles:
            if not bundle.exists():
                raise RuntimeError(_missing(bundle, "FGS_WIDGETS_SKIP_JS=1 was set"))
        # fgs_widgets/static is gitignored, which would otherwise exclude the bundles
        build_data["artifacts"].extend(BUNDLES)

    def _build(self, js: Path, bundles: list[Path]) -> None:
        sources = [*(js / "src").rglob("*"), js / "package.json", js / "package-lock.json"]
        newest = max(p.stat().st_mtime for p in sources if p.is_file())
        if all(b.exists() and b.stat().st_mtime >= newest for b in bundles):
            return
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            missing = [b for b in bundles if not b.exists()]
            if missing:
                raise RuntimeError(_missing(missing[0], "node and npm were not found on PATH"))
            self.app.display_warning(
                "fgs_widgets: the bundles are older than js/src but node/npm are missing; "
                "using the existing bundles")
            return
        installed = js / "node_modules" / ".package-lock.json"
        lock = js / "package-lock.json"
        if not installed.exists() or (lock.exists()
                                      and installed.stat().st_mtime < lock.stat().st_mtime):
            # --ignore-scripts: esbuild's postinstall only re-checks its binary, and npm
            # >= 11 refuses unapproved install scripts anyway
            install = "ci" if lock.exists() else "install"
            _run([npm, install, "--ignore-scripts", "--no-audit", "--no-fund"], js)
        _run([npm, "run", "build"], js)
        for bundle in bundles:
            if not bundle.exists():
                raise RuntimeError(f"fgs_widgets: `npm run build` in {js} did not write {bundle}")
        self.app.display_info(f"fgs_widgets: built {', '.join(BUNDLES)}")


def _run(command: list[str], cwd: Path) -> None:
    """Run an npm command, turning a failure into one readable error."""
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        shown = " ".join(["npm", *command[1:]])
        raise RuntimeError(
            f"fgs_widgets: `{shown}` failed in {cwd} (exit {result.returncode}); output above. "
            "npm needs the npm registry (or a populated cache) the first time.")


def _missing(bundle: Path, why: str) -> str:
    return (
        f"fgs_widgets: the front-end bundle {bundle} is missing and cannot be built "
        f"({why}). Install Node.js >= 18 with npm (e.g. `apt-get install nodejs npm`) and "
        "run `pip install -e .` again, or install from a wheel/sdist that carries the bundle.")
