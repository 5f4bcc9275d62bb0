"""The Kaggle source against the loopback stub, through the real client (kagglesdk): resolving
versions, downloading once into the cache, resuming a cut download, and each HTTP failure."""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Self

import pytest
import requests
from kagglesdk import KaggleClient

from alexnet_pipeline.config import KaggleConfig, load_params
from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.kaggle_source import (
    KaggleApi,
    fetch_archive,
    resolve,
    sdk_session,
    target_of,
)
from alexnet_pipeline.sources.resumable_download import CHUNK
from tests.helpers import cat_and_dog_zip, write_params
from tests.kaggle_stub import KaggleStub, RunningStub

DATASET = "tester/cat-and-dog"


def kaggle_config(tmp_path: Path, **overrides: object) -> KaggleConfig:
    settings = {"data__source": "kaggle", "data__kaggle__dataset": DATASET,
                "data__kaggle__cache_dir": str(tmp_path / "cache"), "data__kaggle__backoff_s": 0.0,
                "data__kaggle__retries": 2, **overrides}
    return load_params(write_params(tmp_path / "project", **settings)).data.kaggle


def cache_files(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())


def test_resolve_follows_the_latest_version_or_the_pin(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[DATASET] = {1: b"one", 2: b"two"}
    assert resolve(kaggle_config(tmp_path)) == {"source": "kaggle", "dataset": DATASET, "version": 2}
    calls = len(kaggle_stub.calls)
    pinned = resolve(kaggle_config(tmp_path, data__kaggle__version=1))
    assert pinned == {"source": "kaggle", "dataset": DATASET, "version": 1}
    assert len(kaggle_stub.calls) == calls  # a pinned version needs no lookup


def test_download_lands_verified_in_the_cache_once(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    archive_bytes = cat_and_dog_zip()
    kaggle_stub.datasets[DATASET] = {3: archive_bytes}
    config = kaggle_config(tmp_path)
    record = resolve(config)
    archive = fetch_archive(config, record)
    assert archive.read_bytes() == archive_bytes
    assert cache_files(tmp_path) == [f"datasets/{DATASET}/3.archive"]
    download = kaggle_stub.api_calls("DownloadDataset")[0]
    assert download["body"] == {"ownerSlug": "tester", "datasetSlug": "cat-and-dog", "datasetVersionNumber": 3}
    assert download["auth"].startswith("Basic ")
    gets = len(kaggle_stub.blob_gets())
    assert fetch_archive(config, record) == archive
    assert len(kaggle_stub.blob_gets()) == gets  # the same version is fetched once


def test_api_token_is_sent_as_bearer(tmp_path: Path, kaggle_stub: KaggleStub,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "stub-token")
    kaggle_stub.datasets[DATASET] = {1: b"x"}
    assert resolve(kaggle_config(tmp_path))["version"] == 1
    assert kaggle_stub.calls[-1]["auth"] == "Bearer stub-token"


def test_cut_connection_resumes_with_a_range_request(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    archive_bytes = cat_and_dog_zip(per_class=6, side=160)
    assert len(archive_bytes) > 4 * CHUNK
    kaggle_stub.datasets[DATASET] = {1: archive_bytes}
    kaggle_stub.cut_next_body_at = 2 * CHUNK + 1000  # whole chunks reach the disk, the rest is lost
    config = kaggle_config(tmp_path)
    archive = fetch_archive(config, resolve(config))
    assert archive.read_bytes() == archive_bytes
    assert [get["range"] for get in kaggle_stub.blob_gets()] == [
        None, None, f"bytes={2 * CHUNK}-"]  # cut, then redirect and resume
    assert cache_files(tmp_path) == [f"datasets/{DATASET}/1.archive"]


def test_cut_without_retries_leaves_only_a_part_file_and_the_rerun_resumes(
        tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    archive_bytes = cat_and_dog_zip(per_class=6, side=160)
    kaggle_stub.datasets[DATASET] = {1: archive_bytes}
    kaggle_stub.cut_next_body_at = CHUNK + 1000
    config = kaggle_config(tmp_path, data__kaggle__retries=0)
    record = resolve(config)
    with pytest.raises(PipelineError, match="download of dataset `tester/cat-and-dog` failed after 1 attempts"):
        fetch_archive(config, record)
    part = tmp_path / "cache" / "datasets" / DATASET / "1.archive.part"
    assert cache_files(tmp_path) == [f"datasets/{DATASET}/1.archive.part"]
    assert part.read_bytes() == archive_bytes[:CHUNK]
    assert fetch_archive(config, record).read_bytes() == archive_bytes
    assert kaggle_stub.blob_gets()[-1]["range"] == f"bytes={CHUNK}-"


def test_checksum_mismatch_is_downloaded_again(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    archive_bytes = cat_and_dog_zip()
    kaggle_stub.datasets[DATASET] = {1: archive_bytes}
    config = kaggle_config(tmp_path)
    part = tmp_path / "cache" / "datasets" / DATASET / "1.archive.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 500)  # a stale part whose bytes differ from the archive's
    assert fetch_archive(config, resolve(config)).read_bytes() == archive_bytes
    # the resume completes a file whose MD5 is wrong, so the part is dropped and fetched whole
    assert [get["range"] for get in kaggle_stub.blob_gets()] == [None, "bytes=500-", None]


def test_429_then_success(tmp_path: Path, kaggle_stub: KaggleStub, caplog: pytest.LogCaptureFixture) -> None:
    kaggle_stub.datasets[DATASET] = {5: b"x"}
    kaggle_stub.api_failures = [429, 503]
    with caplog.at_level(logging.WARNING):
        assert resolve(kaggle_config(tmp_path))["version"] == 5
    assert len(kaggle_stub.api_calls("GetDataset")) == 3
    assert "HTTP 429" in caplog.text and "HTTP 503" in caplog.text


def test_server_errors_past_the_retries_stop_with_a_clear_message(tmp_path: Path,
                                                                   kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[DATASET] = {5: b"x"}
    kaggle_stub.api_failures = [500, 502, 503]
    with pytest.raises(PipelineError, match=r"version lookup .* failed after 3 attempts, last: HTTP 503"):
        resolve(kaggle_config(tmp_path))


def test_offline_resolve_falls_back_to_the_newest_cached_version(
        tmp_path: Path, kaggle_stub: KaggleStub, caplog: pytest.LogCaptureFixture) -> None:
    kaggle_stub.datasets[DATASET] = {1: b"one", 2: b"two"}
    config = kaggle_config(tmp_path, data__kaggle__retries=0)
    fetch_archive(config, resolve(config))
    kaggle_stub.api_failures = [503]
    with caplog.at_level(logging.WARNING):
        assert resolve(config)["version"] == 2
    assert "using the newest cached archive" in caplog.text


def test_401_stops_at_once_naming_the_credentials(tmp_path: Path, kaggle_stub: KaggleStub,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key")
    kaggle_stub.datasets[DATASET] = {1: b"x"}
    with pytest.raises(PipelineError, match=r"rejected the credentials from KAGGLE_USERNAME/KAGGLE_KEY "
                                            r"\(HTTP 401\).*kaggle.com/settings"):
        resolve(kaggle_config(tmp_path))
    assert len(kaggle_stub.calls) == 1


def test_404_stops_at_once_naming_the_param(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    with pytest.raises(PipelineError, match=r"no dataset `tester/cat-and-dog` \(HTTP 404.*data.kaggle.dataset"):
        resolve(kaggle_config(tmp_path))
    assert len(kaggle_stub.calls) == 1


def test_unknown_pinned_version_is_a_404(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[DATASET] = {1: b"x"}
    config = kaggle_config(tmp_path, data__kaggle__version=7)
    with pytest.raises(PipelineError, match=r"HTTP 404.*data.kaggle.version"):
        fetch_archive(config, resolve(config))
    assert cache_files(tmp_path) == []


def test_competition_rules_not_accepted_is_a_403_with_the_rules_url(tmp_path: Path,
                                                                    kaggle_stub: KaggleStub) -> None:
    kaggle_stub.competitions["dogs-vs-cats"] = b"x"
    config = kaggle_config(tmp_path, data__kaggle__competition="dogs-vs-cats")
    with pytest.raises(PipelineError, match=r"HTTP 403.*accept them at "
                                            r"https://www.kaggle.com/competitions/dogs-vs-cats/rules"):
        resolve(config)
    assert len(kaggle_stub.calls) == 1


def test_competition_archive_is_keyed_by_its_checksum(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.competitions["dogs-vs-cats"] = b"first"
    kaggle_stub.rules_accepted.add("dogs-vs-cats")
    config = kaggle_config(tmp_path, data__kaggle__competition="dogs-vs-cats")
    first = resolve(config)
    assert fetch_archive(config, first).read_bytes() == b"first"
    assert resolve(config) == first
    kaggle_stub.competitions["dogs-vs-cats"] = b"second"
    second = resolve(config)
    assert second["archive"] != first["archive"]
    assert fetch_archive(config, second).read_bytes() == b"second"
    body = kaggle_stub.api_calls("DownloadDataFiles")[0]["body"]
    assert body == {"competitionName": "dogs-vs-cats"}


def test_a_stalled_server_times_out_and_is_retried(tmp_path: Path, kaggle_stub: KaggleStub,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    kaggle_stub.datasets[DATASET] = {2: b"x"}
    kaggle_stub.stall_next_call_s = 2.0
    with caplog.at_level(logging.WARNING):
        assert resolve(kaggle_config(tmp_path, data__kaggle__timeout_s=0.3))["version"] == 2
    assert "ReadTimeout" in caplog.text
    assert len(kaggle_stub.api_calls("GetDataset")) == 2


def test_an_entered_kaggle_client_keeps_its_requests_session_in_the_private_attribute() -> None:
    """What to check on a kagglesdk upgrade: kaggle_source.sdk_session reads the private
    KaggleHttpClient._session (kagglesdk has no public timeout setting); if this fails, look for
    a public setting in kagglesdk/kaggle_http_client.py, else for where the session went."""
    with KaggleClient(username="u", password="p") as client:
        session = client.http_client()._session
        assert isinstance(session, requests.Session)
        assert sdk_session(client) is session


def test_kaggle_api_gives_the_sdk_session_and_the_download_session_its_timeout(
        tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    config = kaggle_config(tmp_path, data__kaggle__timeout_s=12.5)
    with KaggleApi(config, target_of(config)) as api:
        for session in (sdk_session(api.client), api.blob_session):
            assert [session.get_adapter(url).timeout for url in ("http://x", "https://x")] == [12.5, 12.5]


class _ClientWithoutSession:
    """Stands for the client of a later kagglesdk whose HTTP client keeps no `_session`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def http_client(self) -> object:
        return object()


def test_without_the_private_session_api_calls_go_on_untimed_with_a_warning(
        tmp_path: Path, kaggle_stub: KaggleStub, caplog: pytest.LogCaptureFixture) -> None:
    config = kaggle_config(tmp_path, data__kaggle__timeout_s=12.5)
    api = KaggleApi(config, target_of(config))
    api.client = _ClientWithoutSession()
    assert sdk_session(api.client) is None
    with caplog.at_level(logging.WARNING), api:
        assert api.blob_session.get_adapter("https://x").timeout == 12.5  # downloads keep theirs
    [warning] = caplog.records
    assert "no requests.Session where this code looks for it" in warning.getMessage()
    assert "without the 12.5 s timeout (data.kaggle.timeout_s)" in warning.getMessage()


def test_the_user_agent_names_kagglesdk_and_its_version(tmp_path: Path, kaggle_stub: KaggleStub) -> None:
    kaggle_stub.datasets[DATASET] = {1: b"x"}
    resolve(kaggle_config(tmp_path))
    assert kaggle_stub.calls[-1]["user_agent"] == f"alexnet-pipeline kagglesdk/{version('kagglesdk')}"


def test_two_stubs_run_side_by_side_each_reached_through_its_own_environment(
        tmp_path: Path, kaggle_stub: KaggleStub, monkeypatch: pytest.MonkeyPatch) -> None:
    kaggle_stub.datasets[DATASET] = {1: b"one"}
    other = KaggleStub(datasets={DATASET: {2: b"two"}})
    with RunningStub(other) as running:
        assert resolve(kaggle_config(tmp_path))["version"] == 1
        for name, value in running.client_env().items():
            monkeypatch.setenv(name, value)
        assert resolve(kaggle_config(tmp_path / "other"))["version"] == 2
    assert len(kaggle_stub.api_calls("GetDataset")) == len(other.api_calls("GetDataset")) == 1
