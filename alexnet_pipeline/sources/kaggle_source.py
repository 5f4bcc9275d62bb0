"""Kaggle datasets and competitions through the official client library, kagglesdk.

`resolve` says which upstream archive is current (a dataset's version number, a competition
archive's checksum) without downloading it; `fetch_archive` brings that archive into the
download cache once (resumable, verified, retried with backoff) and returns its path.
HTTP 401, 403 and 404 stop at once with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Self

import requests
from kagglesdk import KaggleClient
from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest
from kagglesdk.datasets.types.dataset_api_service import (
    ApiDownloadDatasetRequest,
    ApiGetDatasetRequest,
)
from requests.adapters import HTTPAdapter

from alexnet_pipeline.config import KaggleConfig
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.kaggle_credentials import KaggleCredentials, find_credentials
from alexnet_pipeline.sources.resumable_download import (
    RemoteFile,
    RetriesExhausted,
    as_transient,
    download_resumably,
    with_retries,
)

log = logging.getLogger(__name__)

ARCHIVE_SUFFIX = ".archive"
USER_AGENT = f"alexnet-pipeline kagglesdk/{metadata.version('kagglesdk')}"


@dataclass(frozen=True)
class KaggleTarget:
    """A dataset (`owner/slug`) or a competition (`name`) on Kaggle."""

    kind: str  # "dataset" | "competition"
    name: str

    @property
    def page(self) -> str:
        return f"https://www.kaggle.com/{self.kind}s/{self.name}"

    @property
    def param(self) -> str:
        return f"data.kaggle.{self.kind}"


def target_of(config: KaggleConfig) -> KaggleTarget:
    if config.competition:
        return KaggleTarget("competition", config.competition)
    return KaggleTarget("dataset", config.dataset)


def cache_dir_of(config: KaggleConfig) -> Path:
    """`data.kaggle.cache_dir`, or `alexnet-pipeline/kaggle` in the user's cache folder."""
    if config.cache_dir:
        return Path(config.cache_dir).expanduser().resolve()
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache).expanduser() / "alexnet-pipeline" / "kaggle"


def _archive_dir(config: KaggleConfig, target: KaggleTarget) -> Path:
    return cache_dir_of(config) / f"{target.kind}s" / target.name


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: neither requests nor kagglesdk sets one by default."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, timeout: Any = None, **kwargs: Any) -> requests.Response:
        return super().send(request, timeout=timeout or self.timeout, **kwargs)


def _with_timeouts(session: requests.Session, timeout: float) -> requests.Session:
    for prefix in ("http://", "https://"):
        session.mount(prefix, _TimeoutAdapter(timeout))
    return session


def sdk_session(client: KaggleClient) -> requests.Session | None:
    """The requests.Session that an entered KaggleClient sends its API calls through, if found.

    kagglesdk (0.1.37) has no public setting for timeouts nor a public handle on its session, so
    this reads the private `KaggleHttpClient._session`. A release that moves it gets None here:
    `KaggleApi` then warns that API calls run without the timeout, and works on (the tests check
    both the attribute on the installed kagglesdk and that fallback).
    """
    session = getattr(client.http_client(), "_session", None)
    return session if isinstance(session, requests.Session) else None


def _status(exc: requests.HTTPError) -> int:
    """The HTTP status, or the `code` of Kaggle's JSON error body when the status hides it."""
    response = exc.response
    if response is None:
        return 0
    if response.status_code >= 400:
        return response.status_code
    with contextlib.suppress(ValueError, AttributeError):
        return int(response.json().get("code", 0))
    return 0


def _explain(exc: requests.HTTPError, target: KaggleTarget, credentials: KaggleCredentials) -> PipelineError:
    status = _status(exc)
    if status == 401:
        return PipelineError(f"Kaggle rejected the credentials from {credentials.origin} (HTTP 401); check "
                             "them, or create a new API token at https://www.kaggle.com/settings")
    if status == 403 and target.kind == "competition":
        return PipelineError(f"Kaggle refused the files of competition `{target.name}` (HTTP 403): you have "
                             f"not accepted its rules; accept them at {target.page}/rules while signed in "
                             f"as the user of {credentials.origin}, then rerun")
    if status == 403:
        return PipelineError(f"Kaggle refused {target.kind} `{target.name}` (HTTP 403): it is private or "
                             f"this account cannot see it; check {target.param} and the credentials "
                             f"from {credentials.origin}")
    if status == 404:
        return PipelineError(f"Kaggle has no {target.kind} `{target.name}` (HTTP 404, {exc}); check "
                             f"{target.param} (the part of {target.page} after /{target.kind}s/)"
                             + (" and data.kaggle.version" if target.kind == "dataset" else ""))
    return PipelineError(f"Kaggle answered HTTP {status} for {target.kind} `{target.name}`: {exc}")


class KaggleApi:
    """An authenticated kagglesdk client plus a plain session for resuming downloads."""

    def __init__(self, config: KaggleConfig, target: KaggleTarget) -> None:
        self.config, self.target = config, target
        self.credentials = find_credentials()
        self.client = KaggleClient(
            username=self.credentials.username, password=self.credentials.key,
            api_token=self.credentials.api_token, user_agent=USER_AGENT)
        self.blob_session = _with_timeouts(requests.Session(), config.timeout_s)

    def __enter__(self) -> Self:
        self.client.__enter__()
        session = sdk_session(self.client)
        if session is None:
            log.warning("kagglesdk %s has no requests.Session where this code looks for it; Kaggle API "
                        "calls run without the %g s timeout (data.kaggle.timeout_s)",
                        metadata.version("kagglesdk"), self.config.timeout_s)
        else:
            _with_timeouts(session, self.config.timeout_s)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.__exit__(*exc_info)
        self.blob_session.close()

    @contextlib.contextmanager
    def errors_explained(self) -> Iterator[None]:
        """Turn the client's failures into PipelineErrors, except transient ones (for retrying)."""
        try:
            yield
        except requests.HTTPError as exc:
            if as_transient(exc) is not None:
                raise
            raise _explain(exc, self.target, self.credentials) from None

    def _retrying(self, action: Any, what: str) -> Any:
        def guarded() -> Any:
            with self.errors_explained():
                return action()
        return with_retries(guarded, self.config.retries, self.config.backoff_s,
                            f"{what} of {self.target.kind} `{self.target.name}`")

    def latest_version(self) -> int:
        owner, slug = self.target.name.split("/")
        request = ApiGetDatasetRequest()
        request.owner_slug, request.dataset_slug = owner, slug
        dataset = self._retrying(lambda: self.client.datasets.dataset_api_client.get_dataset(request),
                                 "version lookup")
        return int(dataset.current_version_number)

    def open_download(self, version: int | None) -> requests.Response:
        """The streamed archive response (the API redirects to a signed storage URL)."""
        if self.target.kind == "competition":
            request = ApiDownloadDataFilesRequest()
            request.competition_name = self.target.name
            return self.client.competitions.competition_api_client.download_data_files(request)
        owner, slug = self.target.name.split("/")
        request = ApiDownloadDatasetRequest()
        request.owner_slug, request.dataset_slug = owner, slug
        request.dataset_version_number = version
        return self.client.datasets.dataset_api_client.download_dataset(request)

    def archive_identity(self) -> str:
        """A competition archive's fingerprint (MD5, else size and date), read from headers only."""
        def peek() -> str:
            with self.open_download(None) as response:
                remote = RemoteFile.of(response)
                modified = response.headers.get("Last-Modified", "")
            fingerprint = remote.md5_b64 or f"{remote.size}|{modified}"
            return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        return self._retrying(peek, "archive lookup")

    def download(self, version: int | None, target_file: Path) -> Path:
        def attempt() -> Path:
            with self.open_download(version) as response:
                return download_resumably(response, target_file, self.blob_session, self.config.timeout_s)
        return self._retrying(attempt, "download")


def _cached_archives(config: KaggleConfig, target: KaggleTarget) -> list[Path]:
    folder = _archive_dir(config, target)
    return sorted(folder.glob(f"*{ARCHIVE_SUFFIX}"), key=lambda path: path.stat().st_mtime)


def _archive_name(record: dict[str, Any]) -> str:
    return f"{record.get('version') or record.get('archive')}{ARCHIVE_SUFFIX}"


def resolve(config: KaggleConfig) -> dict[str, Any]:
    """Which archive is current upstream: the pinned or latest dataset version, or the
    competition archive's fingerprint. Offline, fall back to the newest cached archive."""
    target = target_of(config)
    record: dict[str, Any] = {"source": "kaggle", target.kind: target.name}
    if target.kind == "dataset" and config.version is not None:
        return {**record, "version": config.version}
    try:
        with KaggleApi(config, target) as api:
            if target.kind == "dataset":
                return {**record, "version": api.latest_version()}
            return {**record, "archive": api.archive_identity()}
    except RetriesExhausted as exc:
        cached = _cached_archives(config, target)
        if not cached:
            raise
        newest = cached[-1].name.removesuffix(ARCHIVE_SUFFIX)
        log.warning("Kaggle unreachable (%s); using the newest cached archive, %s", exc, cached[-1])
        key = "version" if target.kind == "dataset" else "archive"
        return {**record, key: int(newest) if key == "version" else newest}


def fetch_archive(config: KaggleConfig, record: dict[str, Any]) -> Path:
    """The cached archive that `record` (from `resolve`) names, downloading it if missing."""
    target = target_of(config)
    archive = _archive_dir(config, target) / _archive_name(record)
    if archive.is_file():
        log.info("using the cached %s", archive)
        return archive
    with KaggleApi(config, target) as api:
        log.info("downloading %s %s to %s", target.kind, target.name, archive)
        api.download(record.get("version"), archive)
    return archive
