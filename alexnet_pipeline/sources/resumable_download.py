"""Resumable, verified HTTP downloads with retries: the transport under the Kaggle source.

Bytes go to `<file>.part`; a cut connection leaves it there and the next attempt asks for the
rest with a `Range` request. Only a file whose size and MD5 (when the server gives them) check
out is renamed to its final name, so a partial download is never mistaken for a whole one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests
from tqdm import tqdm

from alexnet_pipeline.errors import PipelineError

log = logging.getLogger(__name__)

CHUNK = 1 << 16  # bytes written per read: a cut connection loses at most this much
MAX_WAIT_S = 60.0
CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
T = TypeVar("T")


class TransientError(Exception):
    """A failure worth another attempt: connection reset, timeout, 429, 5xx, short body."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetriesExhausted(PipelineError):
    """Every attempt failed transiently: the network or the server is down, not the request."""


def _retry_after(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After", "") if response is not None else ""
    return float(value) if value.strip().isdigit() else None


def as_transient(exc: Exception) -> TransientError | None:
    """The TransientError that `exc` amounts to, or None when retrying cannot help."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status == 429 or status >= 500:
            return TransientError(f"HTTP {status} ({exc})", _retry_after(exc.response))
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    return None


def with_retries(action: Callable[[], T], retries: int, backoff_s: float, what: str) -> T:
    """Run `action`, retrying transient failures with exponential backoff (Retry-After wins)."""
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as exc:
            transient = as_transient(exc)
            if transient is None:
                raise
            if attempt == retries:
                raise RetriesExhausted(f"{what} failed after {retries + 1} attempts, last: {transient}; "
                                    "check the network and rerun (a partial download resumes)") from None
            wait = transient.retry_after if transient.retry_after is not None else backoff_s * 2**attempt
            wait = min(wait, MAX_WAIT_S)
            log.warning("%s: %s; attempt %d of %d in %.1f s", what, transient, attempt + 2, retries + 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class RemoteFile:
    """What a download response says of the file: final URL, size, MD5 and Range support."""

    url: str
    size: int | None
    md5_b64: str | None
    resumable: bool

    @classmethod
    def of(cls, response: requests.Response) -> RemoteFile:
        length = response.headers.get("Content-Length", "")
        md5 = None
        for part in response.headers.get("x-goog-hash", "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "md5" and value:
                md5 = value
        return cls(url=response.url, size=int(length) if length.isdigit() else None, md5_b64=md5,
                   resumable=response.headers.get("Accept-Ranges", "").lower() == "bytes")


def _file_md5_b64(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _resume_response(remote: RemoteFile, offset: int, session: requests.Session,
                     timeout: float) -> requests.Response | None:
    """A 206 response for the bytes from `offset` on, or None when the server will not resume."""
    response = session.get(remote.url, headers={"Range": f"bytes={offset}-"}, stream=True, timeout=timeout)
    response.raise_for_status()
    match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status_code == 206 and match and int(match.group(1)) == offset:
        return response
    response.close()
    return None


def _stream(response: requests.Response, part: Path, offset: int, total: int | None) -> None:
    with part.open("ab" if offset else "wb") as sink, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=None) as progress:
        for chunk in response.iter_content(CHUNK):
            sink.write(chunk)
            progress.update(len(chunk))


def download_resumably(response: requests.Response, target: Path, session: requests.Session, timeout: float) -> Path:
    """Save the body of `response` (streamed) as `target`, resuming `target.part` when the server
    allows; raise TransientError on a short or corrupt body so that a retry can finish the job."""
    remote = RemoteFile.of(response)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    already_whole = offset > 0 and offset == remote.size
    body = response
    if offset and remote.resumable and remote.size and offset < remote.size:
        body = _resume_response(remote, offset, session, timeout) or response
        if body is response:
            offset = 0
            log.info("%s: the server ignored the Range request; downloading from the start", target.name)
        else:
            log.info("%s: resuming at %d of %d bytes", target.name, offset, remote.size)
    elif not already_whole:
        offset = 0
    try:
        if not already_whole:
            _stream(body, part, offset, remote.size)
    finally:
        if body is not response:
            body.close()
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        if size > remote.size:
            part.unlink()
        raise TransientError(f"{target.name}: got {size:,} of {remote.size:,} bytes")
    if remote.md5_b64 and _file_md5_b64(part) != remote.md5_b64:
        part.unlink()
        raise TransientError(f"{target.name}: MD5 checksum does not match the server's; downloading again")
    part.replace(target)
    return target
