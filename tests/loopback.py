"""Loopback HTTP servers that speak MAST's, the engineering DB's and the GSC's formats.

Real sockets on 127.0.0.1 (port 0), started and stopped by the tests.  The
formats follow ../shared/reference/fgs-data-and-services.md and what
astroquery 0.4.11 sends and expects (columns config POST, invoke POST with a
form field ``request`` holding JSON, ``fields``/``data``/``paging`` answers).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

#: the token the `services` fixture's engineering DB accepts
EDB_TOKEN = "edb-token-123456"


@dataclass
class Behaviour:
    """What the fake services do; tests change these between requests."""

    files: dict[str, bytes] = field(default_factory=dict)  # uri -> bytes
    rows: list[dict] = field(default_factory=list)  # GuideStar service rows
    page_size: int = 2  # server-side maximum rows per page (forces paging)
    require_token: str | None = None  # token that must be sent (None: open data)
    status: int | None = None  # force this HTTP status on every request...
    status_count: int | None = None  # ...or only on this many requests (then answer normally)
    delay: float = 0.0  # seconds before answering
    block_delay: float = 0.0  # seconds between 64 KiB blocks of a download
    truncate_at: int | None = None  # drop the connection after this many bytes
    wrong_length: bool = False  # announce a Content-Length that is too large
    ignore_range: bool = False
    trickle: float | None = None  # send downloads at this many bytes/s, one byte at a time
    stall_after: int | None = None  # send this many bytes of a download, then nothing
    redirect: str | None = None  # answer downloads with 302 to this base URL + the same path
    header_drip: float | None = None  # a download's status line and headers: 1 byte per this s
    # MAST query (invoke) behaviour, per invoke request (each page, each re-poll)
    executing: int = 0  # answer this many invokes "EXECUTING" (no rows) before the real answer
    invoke_delay: float = 0.0  # seconds before answering each invoke
    invoke_statuses: list[int] = field(default_factory=list)  # HTTP status of the next invokes
    release: threading.Event = field(default_factory=threading.Event)  # ends stalls (teardown)
    telemetry: dict[str, pd.DataFrame] = field(default_factory=dict)
    catalog: dict[str, str] = field(default_factory=dict)  # gs_id -> CSV text
    telemetry_z: bool = False  # write EDB times as "...Z" (tz-aware ISO)
    telemetry_type_column: str = "sqldataType"  # the real header's spelling
    # hostile answers: endpoint ("invoke", "download", "telemetry", "catalog") ->
    # (status, content type, body) sent instead of the real answer
    answers: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    log: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, headers
    invokes: list[dict] = field(default_factory=list)  # decoded invoke requests
    column_configs: list[str] = field(default_factory=list)  # colConfigId of each call


def _matches(row: dict, criterion: dict) -> bool:
    """A MAST filter on one row: discrete values or ``{"min", "max"}`` ranges.

    Discrete filters match the stored text exactly, as MAST's keyword tables do (the
    rows hold the header values, e.g. program "01534", observtn "002"); a range matches
    a number within it, inclusive, and never a row without the column.
    """
    value = row.get(criterion["paramName"])
    for allowed in criterion["values"]:
        if isinstance(allowed, dict):
            if value is not None and allowed["min"] <= float(value) <= allowed["max"]:
                return True
        elif str(value) == str(allowed):
            return True
    return False


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _gate(self) -> bool:
        b = self.behaviour
        b.log.append((self.command, self.path, dict(self.headers)))
        if b.delay:
            time.sleep(b.delay)
        if b.status and b.status_count != 0:
            if b.status_count is not None:
                b.status_count -= 1
            self._send(b.status, b'{"status": "ERROR", "msg": "forced"}')
            return False
        if b.require_token is not None:
            if self.headers.get("Authorization") != f"token {b.require_token}":
                self._send(401, b'{"status": "ERROR", "msg": "unauthorized"}')
                return False
        return True

    def do_POST(self) -> None:
        if not self._gate():
            return
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        path = urlparse(self.path).path
        if path.endswith("/portal/Mashup/Mashup.asmx/columnsconfig"):
            # astroquery posts "colConfigId=<service>" and keeps the answer per service
            self.behaviour.column_configs.append(parse_qs(body).get("colConfigId", [""])[0])
            config = {"fileName": {"text": "File Name", "vot.datatype": "char"},
                      "fileSize": {"text": "File Size", "vot.datatype": "long"},
                      "dataURI": {"text": "Data URI", "vot.datatype": "char"}}
            self._send(200, json.dumps(config).encode())
        elif path.endswith("/api/v0/invoke"):
            request = json.loads(parse_qs(body)["request"][0])
            b = self.behaviour
            b.invokes.append(request)
            if b.invoke_delay:
                time.sleep(b.invoke_delay)
            if b.invoke_statuses:
                status = b.invoke_statuses.pop(0)
                self._send(status, json.dumps({"status": "ERROR", "msg": "forced"}).encode())
            elif b.executing > 0:
                # MAST's long poll: the client must send the same request again
                b.executing -= 1
                self._send(200, json.dumps({"status": "EXECUTING", "msg": "", "fields": [],
                                            "data": []}).encode())
            elif not self._hostile("invoke"):
                self._send(200, json.dumps(self._invoke(request)).encode())
        else:
            self._send(404, b"{}")

    def _invoke(self, request: dict) -> dict:
        b = self.behaviour
        if request.get("service") != "Mast.Jwst.Filtered.GuideStar":
            return {"status": "ERROR", "msg": f"unknown service {request.get('service')}"}
        filters = request["params"].get("filters", [])
        rows = [r for r in b.rows if all(_matches(r, f) for f in filters)]
        size = min(int(request.get("pagesize") or b.page_size), b.page_size)
        page = int(request.get("page") or 1)
        pages = max(math.ceil(len(rows) / size), 1)
        chunk = rows[(page - 1) * size : page * size]
        def kind(value) -> str:
            return ("int" if isinstance(value, int) else "float" if isinstance(value, float)
                    else "string")

        fields = [{"name": k, "type": kind(v)}
                  for k, v in (b.rows[0] if b.rows else {"fileName": ""}).items()]
        return {"status": "COMPLETE", "msg": "", "fields": fields, "data": chunk,
                "paging": {"page": page, "pageSize": size, "pagesFiltered": pages,
                           "rows": len(chunk), "rowsFiltered": len(rows),
                           "rowsTotal": len(rows)}}

    def _hostile(self, endpoint: str) -> bool:
        """Send the test's hostile answer for this endpoint, if it set one."""
        answer = self.behaviour.answers.get(endpoint)
        if answer is None:
            return False
        status, content_type, body = answer
        self._send(status, body, content_type)
        return True

    def do_GET(self) -> None:
        if not self._gate():
            return
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path.endswith("/api/v0.1/Download/file"):
            uri = query.get("uri", [""])[0]
            if uri.startswith("mast:jwstedb/"):
                if not self._hostile("telemetry"):
                    self._telemetry(uri.removeprefix("mast:jwstedb/"))
            elif not self._hostile("download"):
                self._download(uri)
        elif url.path.endswith("/CatalogSearch.aspx"):
            if self._hostile("catalog"):
                return
            gs_id = query.get("id", [""])[0]
            text = self.behaviour.catalog.get(gs_id)
            if text is None:
                self._send(200, b"Search results\nNo matches\n", "text/csv")
            else:
                self._send(200, text.encode(), "text/csv")
        else:
            self._send(404, b"")

    def _download(self, uri: str) -> None:
        b = self.behaviour
        if b.redirect is not None:
            self._send(302, b"", "text/plain", {"Location": b.redirect + self.path})
            return
        data = b.files.get(uri)
        if data is None:
            self._send(404, b"not found", "text/plain")
            return
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and not b.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self._send(416, b"", headers={"Content-Range": f"bytes */{len(data)}"})
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        announced = len(body) + (1000 if b.wrong_length else 0)
        if b.header_drip:
            self._drip_headers(data, start, announced)
            return
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        sent = 0
        try:
            if b.trickle:
                for i in range(len(body)):
                    if b.release.is_set():
                        return
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(1 / b.trickle)
                return
            if b.stall_after is not None:
                self.wfile.write(body[: b.stall_after])
                self.wfile.flush()
                b.release.wait(60)  # connection open, nothing more sent
                return
            for i in range(0, len(body), 65536):
                piece = body[i : i + 65536]
                if b.truncate_at is not None and start + sent + len(piece) > b.truncate_at:
                    piece = piece[: max(b.truncate_at - start - sent, 0)]
                    self.wfile.write(piece)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                sent += len(piece)
                if b.block_delay:
                    time.sleep(b.block_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _drip_headers(self, data: bytes, start: int, announced: int) -> None:
        """Status line and headers one byte every ``header_drip`` s, then the body at once.

        Every socket read of the client gets a byte well within its timeout, so
        only a limit on the whole request stops it.
        """
        b = self.behaviour
        self._headers_buffer = []  # what send_response buffered: written by hand below
        self.close_connection = True
        status = "206 Partial Content" if start else "200 OK"
        ranged = f"Content-Range: bytes {start}-{len(data) - 1}/{len(data)}\r\n" if start else ""
        head = (f"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n{ranged}"
                f"Content-Length: {announced}\r\n\r\n").encode()
        try:
            for i in range(len(head)):
                if b.release.wait(b.header_drip):
                    return
                self.wfile.write(head[i : i + 1])
            self.wfile.write(data[start:])
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _telemetry(self, name: str) -> None:
        """The EDB CSV as jwst.lib.engdb_mast's tests record it: CRLF lines, header
        ``theTime,MJD,euvalue,sqldataType``, times like ``2021-05-21 23:59:59.816000``,
        and the samples just before and after the range added ("bracketing")."""
        match = re.match(r"^([A-Z0-9_]+)-(\d{8}T\d{6})-(\d{8}T\d{6})\.csv$", name)
        if not match:
            self._send(400, b"bad request", "text/plain")
            return
        mnemonic, a, b_ = match.groups()
        table = self.behaviour.telemetry.get(mnemonic)
        lines = [f"theTime,MJD,euvalue,{self.behaviour.telemetry_type_column}"]
        if table is not None:
            start, stop = pd.Timestamp(a), pd.Timestamp(b_)
            utc = pd.to_datetime(table["utc"]).dt.tz_localize(None).reset_index(drop=True)
            inside = np.flatnonzero(((utc >= start) & (utc <= stop)).to_numpy())
            if len(inside):
                first = max(int(inside[0]) - 1, 0)
                last = min(int(inside[-1]) + 1, len(table) - 1)
                numeric = pd.api.types.is_float_dtype(table["value"])
                kind = "real" if numeric else "varchar"
                for i in range(first, last + 1):
                    stamp = utc[i].strftime("%Y-%m-%d %H:%M:%S.%f")
                    if self.behaviour.telemetry_z:
                        stamp = utc[i].isoformat() + "Z"
                    value = table["value"].iloc[i]
                    text = f"{value:.10f}" if numeric else value
                    lines.append(f"{stamp},{table['time'].iloc[i]:.10f},{text},{kind}")
        self._send(200, ("\r\n".join(lines) + "\r\n").encode(), "text/csv")


def leaked_in_traceback(exc: BaseException, secret: str, skip_tests: bool = True) -> list[str]:
    """Where `secret` shows in `exc`'s message, chain, or the locals of its library frames.

    Each exception reachable through ``__cause__`` and ``__context__`` is
    formatted with locals (as ``%xmode Verbose`` / ``pytest -l`` print it),
    suppressed ones too: ``raise ... from None`` hides a context from the
    printout but keeps its frames alive.  Frames of the test modules are
    skipped (the test itself holds the token it passed).
    """
    import traceback

    tests = str(Path(__file__).resolve().parent)
    found, seen, todo = [], set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if secret in str(e) or secret in repr(e.args):
            found.append(f"{type(e).__name__} message")
        summary = traceback.TracebackException(type(e), e, e.__traceback__,
                                               capture_locals=True)
        for frame in summary.stack:
            if skip_tests and str(Path(frame.filename).resolve()).startswith(tests):
                continue
            for name, shown in (frame.locals or {}).items():
                if secret in shown:
                    found.append(f"{type(e).__name__} in {frame.name} "
                                 f"({Path(frame.filename).name}:{frame.lineno}): local {name}")
        todo += [e.__cause__, e.__context__]
    return found


def fits_bytes(records: int, seed: int = 0) -> bytes:
    """A FITS-looking file of `records` 2880-byte records: a primary header card, then noise.

    Enough for the download checks (signature, whole records) without building a real file.
    """
    card = b"SIMPLE  =                    T / conforms to FITS standard".ljust(80)
    header = (card + b"END".ljust(80)).ljust(2880)
    return header + np.random.default_rng(seed).bytes(2880 * (records - 1))


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with a shared `Behaviour`."""

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # a short poll interval keeps shutdown() (every test's teardown) fast
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.behaviour.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_sample(behaviour: Behaviour, sample) -> None:
    """Fill `behaviour` with the sample program's files, rows, telemetry and catalog."""
    from astropy.io import fits

    for path in sample.paths:
        uri = f"mast:JWST/product/{path.name}"
        behaviour.files[uri] = Path(path).read_bytes()
        header = fits.getheader(path)
        behaviour.rows.append({
            "fileName": path.name, "dataURI": uri, "fileSetName": path.parent.name,
            "fileSize": path.stat().st_size, "program": header["PROGRAM"],
            "observtn": header["OBSERVTN"], "visit": header["VISIT"],
            "detector": header["DETECTOR"], "exp_type": header["EXP_TYPE"],
            "date_beg_mjd": header["DATASTRT"],
        })
    behaviour.telemetry.update(sample.telemetry)
    for gs_id, gaia, j, h in (("N13I000018", 4657982334521456768, 11.02, 10.71),
                              ("N13I000422", 4657983123498765312, 11.88, 11.52)):
        behaviour.catalog[gs_id] = (
            "Guide Star Catalog search results\n"
            "hstID,GSC1ID,ra,dec,raEpsilon,decEpsilon,epoch,Gaia DR3 Source ID,"
            "JMag,JmagErr,HMag,HmagErr\n"
            f"{gs_id},,80.48734,-69.49632,0.01,0.01,2016.0,{gaia},{j},0.02,{h},0.03\n")
