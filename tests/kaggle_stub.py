"""A stub of the Kaggle API on loopback, for the real client to talk to.

kagglesdk sends every call to http://localhost:7777 when KAGGLE_API_ENVIRONMENT=TEST:
`POST /api/v1/<Service>/<Method>` with a JSON body. That endpoint is fixed, so the stub listens
on a free port instead and serves as the HTTP proxy (`http_proxy`, which requests honours) for
that address: stubs of tests running in parallel never collide, and subprocesses that inherit
the environment reach the same stub (`RunningStub.client_env`). Like Kaggle, the stub answers a
download with a 302 to a storage URL that serves the archive with `Content-Length`,
`Accept-Ranges`, `x-goog-hash: md5=...` and Range requests. Tests set failures: API or storage
statuses to answer next, or a connection cut part-way through a body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from kagglesdk.kaggle_env import KaggleEnv, get_endpoint

API = "/api/v1/"
SDK_TEST_ENDPOINT = get_endpoint(KaggleEnv.TEST)  # where kagglesdk sends calls when KAGGLE_API_ENVIRONMENT=TEST
USERNAME, KEY, TOKEN = "stub-user", "stub-key", "stub-token"


@dataclass
class KaggleStub:
    """What the stub serves and how it misbehaves; `calls` logs every request it got."""

    datasets: dict[str, dict[int, bytes]] = field(default_factory=dict)  # owner/slug -> version -> archive
    competitions: dict[str, bytes] = field(default_factory=dict)
    rules_accepted: set[str] = field(default_factory=set)
    api_failures: list[int] = field(default_factory=list)  # statuses for the next API calls
    blob_failures: list[int] = field(default_factory=list)  # statuses for the next archive GETs
    cut_next_body_at: int | None = None  # bytes of the next archive body sent before a reset
    stall_next_call_s: float = 0.0  # the next API call waits this long before answering
    md5_header: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def blob_gets(self) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["method"] == "GET"]

    def api_calls(self, rpc: str = "") -> list[dict[str, Any]]:
        return [call for call in self.calls if call["method"] == "POST" and rpc in call["path"]]


def _authorized(header: str | None) -> bool:
    if header == f"Bearer {TOKEN}":
        return True
    expected = base64.b64encode(f"{USERNAME}:{KEY}".encode()).decode()
    return header == f"Basic {expected}"


def make_handler(stub: KaggleStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps({"code": status, "message": message}).encode(), headers=headers)

        def _origin_path(self) -> str:
            """The request's path: as a proxy the stub gets the whole URL (`http://host/path`)."""
            parts = urlsplit(self.path)
            return parts.path + (f"?{parts.query}" if parts.query else "")

        def do_POST(self) -> None:
            self.path = self._origin_path()
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            stub.calls.append({"method": "POST", "path": self.path, "body": request,
                               "auth": self.headers.get("Authorization"),
                               "user_agent": self.headers.get("User-Agent")})
            if stub.stall_next_call_s:
                stall, stub.stall_next_call_s = stub.stall_next_call_s, 0.0
                time.sleep(stall)
            if not _authorized(self.headers.get("Authorization")):
                return self._error(401, "Unauthenticated")
            if stub.api_failures:
                status = stub.api_failures.pop(0)
                return self._error(status, f"stub failure {status}", {"Retry-After": "0"} if status == 429 else None)
            rpc = self.path.removeprefix(API)
            name = f"{request.get('ownerSlug')}/{request.get('datasetSlug')}"
            if rpc == "datasets.DatasetApiService/GetDataset":
                if name not in stub.datasets:
                    return self._error(404, "Dataset not found")
                return self._send(200, json.dumps({"ref": name, "currentVersionNumber":
                                                   max(stub.datasets[name])}).encode())
            if rpc == "datasets.DatasetApiService/DownloadDataset":
                if request.get("datasetVersionNumber") not in stub.datasets.get(name, {}):
                    return self._error(404, "Dataset version not found")
                return self._redirect(f"/storage/datasets/{name}/{request['datasetVersionNumber']}")
            if rpc == "competitions.CompetitionApiService/DownloadDataFiles":
                competition = request.get("competitionName")
                if competition not in stub.competitions:
                    return self._error(404, "Competition not found")
                if competition not in stub.rules_accepted:
                    return self._error(403, "You must accept this competition's rules before you'll "
                                            "be able to download files.")
                return self._redirect(f"/storage/competitions/{competition}")
            return self._error(404, f"unknown RPC {rpc}")

        def _redirect(self, path: str) -> None:
            self._send(302, headers={"Location": f"{SDK_TEST_ENDPOINT}{path}"})

        def _archive(self) -> bytes | None:
            parts = self.path.removeprefix("/storage/").split("/")
            if parts[0] == "datasets" and len(parts) == 4:
                return stub.datasets.get(f"{parts[1]}/{parts[2]}", {}).get(int(parts[3]))
            if parts[0] == "competitions" and len(parts) == 2:
                return stub.competitions.get(parts[1])
            return None

        def do_GET(self) -> None:
            self.path = self._origin_path()
            stub.calls.append({"method": "GET", "path": self.path, "range": self.headers.get("Range")})
            archive = self._archive()
            if stub.blob_failures:
                return self._send(stub.blob_failures.pop(0), b"stub failure", "text/plain")
            if archive is None:
                return self._send(404, b"no such object", "text/plain")
            headers = {"Accept-Ranges": "bytes", "Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT"}
            if stub.md5_header:
                digest = base64.b64encode(hashlib.md5(archive).digest()).decode()
                headers["x-goog-hash"] = f"crc32c=AAAAAA==,md5={digest}"
            status, body = 200, archive
            requested = self.headers.get("Range", "")
            if requested.startswith("bytes=") and requested.endswith("-"):
                start = int(requested[len("bytes="):-1])
                status, body = 206, archive[start:]
                headers["Content-Range"] = f"bytes {start}-{len(archive) - 1}/{len(archive)}"
            if stub.cut_next_body_at is None:
                return self._send(status, body, "application/octet-stream", headers)
            cut, stub.cut_next_body_at = stub.cut_next_body_at, None
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up early (it read the headers and closed) is expected, not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RunningStub:
    """The stub serving on a free port of 127.0.0.1 in a background thread."""

    def __init__(self, stub: KaggleStub) -> None:
        self.server = _Server(("127.0.0.1", 0), make_handler(stub))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def client_env(self) -> dict[str, str]:
        """Environment variables that send kagglesdk's calls (and the downloads they redirect
        to) to this stub: the TEST endpoint, reached through the stub as the HTTP proxy. Other
        loopback servers on 127.0.0.1 (the Prefect test server) are reached directly."""
        proxy = {"http_proxy": self.url, "no_proxy": "127.0.0.1"}
        return {"KAGGLE_API_ENVIRONMENT": "TEST", **proxy, **{name.upper(): value for name, value in proxy.items()}}

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
