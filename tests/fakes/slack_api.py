"""A local fake of the Slack Web API: a real HTTP server on loopback that records every call.

It speaks the wire format the SDK clients use: form-encoded or JSON bodies in, `{"ok": ...}`
JSON out, 429 with `Retry-After` for `ratelimited`. It covers what Muster calls:
chat.postMessage, chat.postEphemeral, views.open / publish / update, reactions.add,
conversations.open, auth.test, and the three steps of files_upload_v2
(files.getUploadURLExternal, a POST to the upload URL it hands out, files.completeUploadExternal).
Anything posted under /response/ is a `response_url` post (what Bolt's `respond()` sends).

    with FakeSlackApi() as slack:
        settings = make_settings(..., slack_api_url=slack.api_url)
        ...
        slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    """One request the fake received: the API method (or `response` / `upload`) and its data."""

    method: str
    params: dict[str, Any]
    path: str
    headers: dict[str, str]
    raw: bytes = field(repr=False, default=b"")

    def json_param(self, name: str) -> Any:
        """A parameter the SDK sends JSON-encoded inside a form (blocks, view)."""
        value = self.params.get(name)
        return json.loads(value) if isinstance(value, str) else value


class FakeSlackApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Condition()
        self._faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = fake._handle(self.path, dict(self.headers), raw)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(body, bytes) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL / WebClient(base_url=...) should be."""
        return f"{self.base}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.base}/response/{name}"

    def __enter__(self) -> FakeSlackApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting faults -------------------------------------------------------------------------

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 ratelimited with Retry-After."""
        body = {"ok": False, "error": "ratelimited"}
        self._add_fault(method, times, (429, body, {"Retry-After": str(retry_after)}))

    def fail(self, method: str, *, error: str = "internal_error", times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self._add_fault(method, times, (200, {"ok": False, "error": error}, {}))

    def _add_fault(self, method: str, times: int, fault: tuple[int, Any, dict[str, str]]) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([fault] * times)

    # --- what was received ------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 10.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until `count` calls of `method` (matching `where`) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self.calls if c.method == method and (not where or where(c))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} x {method}; received {seen}")
                self._lock.wait(left)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    # --- the API ----------------------------------------------------------------------------------

    def _handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        url = urlsplit(path)
        if url.path.startswith("/response/"):
            method, params = "response", _json_or_form(headers, raw)
        elif url.path.startswith("/upload/"):
            method, params = "upload", {"file_id": url.path.rsplit("/", 1)[-1]}
        else:
            method = url.path.removeprefix("/api/").strip("/")
            params = _json_or_form(headers, raw)
            params.update({k: v[0] for k, v in parse_qs(url.query).items()})
        call = Call(method=method, params=params, path=url.path, headers=headers, raw=raw)
        with self._lock:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
            self.calls.append(call)
            self._lock.notify_all()
        if fault is not None:
            return fault
        if method == "response":
            return 200, b"ok", {}
        if method == "upload":
            return 200, f"OK - {len(raw)}".encode(), {}
        if not headers.get("Authorization", headers.get("authorization", "")).startswith(
            "Bearer xoxb-"
        ) and not params.get("token"):
            return 200, {"ok": False, "error": "not_authed"}, {}
        return 200, self._answer(method, params), {}

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"1763300000.{next(self._ts):06d}"
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"}
        if method == "chat.postMessage":
            channel = params.get("channel")
            return {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"text": params.get("text")},
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method in ("views.open", "views.publish", "views.update"):
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            return {"ok": True, "view": {"id": f"V{next(self._files)}", **(view or {})}}
        if method == "conversations.open":
            users = str(params.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):05d}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": True}


def _json_or_form(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    ctype = headers.get("Content-Type", headers.get("content-type", ""))
    if not raw:
        return {}
    if "json" in ctype:
        return json.loads(raw)
    return {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
