"""Blessed versions as GTO tags in a temp git repo: register, list, resolve, and refuse clearly."""

from __future__ import annotations

import logging
import math
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alexnet_pipeline.registry import gto_tags
from alexnet_pipeline.registry.gto_tags import RegistryError
from tests.helpers import run, subprocess_env

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    run([*GIT, "add", name], repo)
    run([*GIT, "commit", "-qm", name], repo)
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Nightly")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "nightly@example.com")
    run(["git", "init", "-q"], tmp_path)
    return tmp_path


def test_versions_are_gto_tags_and_production_moves_to_the_newest(repo: Path) -> None:
    first, second = _commit(repo, "one"), _commit(repo, "two")
    assert gto_tags.versions(repo) == []
    assert gto_tags.register(repo, "v1.0.0", first) is True
    assert gto_tags.register(repo, "v2.0.0", second) is True
    assert gto_tags.register(repo, "v2.0.0", second) is False  # idempotent
    tags = set(run(["git", "tag"], repo).stdout.split())
    assert tags == {"alexnet@v1.0.0", "alexnet@v2.0.0", "alexnet#production#1", "alexnet#production#2"}
    assert "Nightly <nightly@example.com>" in run(["git", "cat-file", "-p", "alexnet@v2.0.0"], repo).stdout
    listed = gto_tags.versions(repo)
    assert [(item["version"], item["commit"], item["stages"]) for item in listed] == [
        ("v2.0.0", second, ["production"]), ("v1.0.0", first, [])]
    assert gto_tags.resolve(repo, "production") == "v2.0.0" == gto_tags.resolve(repo, "latest")
    assert gto_tags.resolve(repo, "1") == "v1.0.0" == gto_tags.resolve(repo, "v1.0.0")
    with pytest.raises(RegistryError, match=r"no version 'v7'; registered: v2.0.0, v1.0.0"):
        gto_tags.resolve(repo, "v7")


def test_registering_needs_a_committed_lock_and_an_identity(repo: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _commit(repo, "dvc.lock")
    store = repo / "models" / "blessed"
    assert gto_tags.register_blessed(repo, store) == (None, False)  # nothing blessed
    (repo / "dvc.lock").write_text("changed")
    store.mkdir(parents=True)
    (store / "version.json").write_text('{"version": "v1.0.0", "number": 1, "weights_sha256": "ab", '
                                        '"classes": ["a", "b"], "image_size": 67, "accuracy": 0.5, "loss": 1.0, '
                                        '"images": 4}')
    with pytest.raises(RegistryError, match="dvc.lock has changes that are not committed; commit it first"):
        gto_tags.register_blessed(repo, store)
    run(["git", "checkout", "dvc.lock"], repo)
    assert gto_tags.register_blessed(repo, store) == ("v1.0.0", True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    with pytest.raises(RegistryError, match="git has no identity"):
        gto_tags.register(repo, "v2.0.0", run(["git", "rev-parse", "HEAD"], repo).stdout.strip())


def _tag_lines(repo: Path) -> list[str]:
    """Every tag: name | message | who signed it."""
    listing = "--format=%(refname:short) | %(contents:subject) | %(taggername) %(taggeremail)"
    return run(["git", "tag", "-l", listing], repo).stdout.splitlines()


def _own_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == gto_tags.__name__]


def _no_identity_but_the_repositorys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)


def test_tags_are_signed_by_the_repositorys_own_identity_and_logged(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """No identity in the environment or the user's config: the repository's own config signs."""
    _no_identity_but_the_repositorys(tmp_path, monkeypatch)
    run(["git", "config", "user.name", "Local Runner"], repo)
    run(["git", "config", "user.email", "runner@example.com"], repo)
    commit = _commit(repo, "one")
    with caplog.at_level(logging.INFO, logger=gto_tags.__name__):
        assert gto_tags.register(repo, "v1.0.0", commit) is True
        assert gto_tags.register(repo, "v1.0.0", commit) is False
    signer = "Local Runner <runner@example.com>"
    assert sorted(_tag_lines(repo)) == [
        f"alexnet#production#1 | alexnet v1.0.0 is the production model | {signer}",
        f"alexnet@v1.0.0 | Blessed alexnet v1.0.0 | {signer}"]
    assert _own_messages(caplog) == [
        "stage production now on alexnet@v1.0.0", f"registered alexnet@v1.0.0 on {commit[:10]}",
        f"alexnet@v1.0.0 is already registered (commit {commit[:10]})"]
    created = datetime.fromisoformat(gto_tags.versions(repo)[0]["created_at"])
    assert abs((datetime.now(UTC) - created).total_seconds()) < 120


def test_without_an_identity_nothing_is_tagged(repo: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    commit = _commit(repo, "one")
    _no_identity_but_the_repositorys(tmp_path, monkeypatch)
    with pytest.raises(RegistryError) as caught:
        gto_tags.register(repo, "v1.0.0", commit)
    assert str(caught.value) == ("model registry: git has no identity to sign the tags with; set "
                                 "git's user.name and user.email for the account that runs the "
                                 "pipeline")
    assert _tag_lines(repo) == []


def test_the_next_tag_waits_for_the_second_after_the_newest(repo: Path) -> None:
    """GTO orders by whole seconds: a tag made this second makes the next wait for the next second;
    one of the second before (or another artifact's) makes nothing wait, and one dated ahead at
    most a second."""
    _commit(repo, "one")
    time.sleep(math.ceil(time.time()) - time.time() + 0.05)  # just after a second starts
    previous = {**subprocess_env(), "GIT_COMMITTER_DATE": f"{int(time.time()) - 1} +0000"}
    run([*GIT, "tag", "-a", "alexnet@v0.1.0", "-m", "a second ago"], repo, env=previous)
    run([*GIT, "tag", "-a", "other@v1.0.0", "-m", "another artifact, now"], repo)
    start = time.monotonic()
    gto_tags._after_last_tag(repo)
    assert time.monotonic() - start < 0.5
    run([*GIT, "tag", "-a", "alexnet@v0.2.0", "-m", "new"], repo)
    newest = int(run(["git", "for-each-ref", "--format=%(creatordate:unix)",
                      "refs/tags/alexnet@v0.2.0"], repo).stdout)
    gto_tags._after_last_tag(repo)
    assert newest + 1 <= time.time() < newest + 2
    ahead = {**subprocess_env(), "GIT_COMMITTER_DATE": f"{int(time.time()) + 30} +0000"}
    run([*GIT, "tag", "-a", "alexnet@v0.3.0", "-m", "a clock ahead"], repo, env=ahead)
    start = time.monotonic()
    gto_tags._after_last_tag(repo)
    assert 0.9 <= time.monotonic() - start < 1.5


def test_failures_of_git_and_gto_are_named(repo: Path) -> None:
    commit = _commit(repo, "one")
    with pytest.raises(RegistryError,
                       match=r"^model registry: cannot register 1\.0: Supplied version '1\.0'"):
        gto_tags.register(repo, "1.0", commit)
    with pytest.raises(RegistryError) as caught:
        gto_tags.resolve(repo, "latest")
    assert str(caught.value) == (f"model registry: no alexnet version is registered in {repo}; "
                                 "`alexnet models register` registers a committed blessed model")
    (repo / ".git" / "HEAD").write_text("garbage\n")
    with pytest.raises(RegistryError, match=r"^model registry: cannot read the tags: "):
        gto_tags.versions(repo)
    assert gto_tags.versions(repo / "not-a-repo") == []


def test_resolving_a_version_number_a_stage_or_latest(repo: Path) -> None:
    first, second = _commit(repo, "one"), _commit(repo, "two")
    gto_tags.register(repo, "v1.0.0", first)
    gto_tags.register(repo, "v2.0.0", second)
    wanted = ("2", "v1.0.0", "latest", "production")
    resolved = [gto_tags.resolve(repo, name) for name in wanted]
    assert resolved == ["v2.0.0", "v1.0.0", "v2.0.0", "v2.0.0"]
    with pytest.raises(RegistryError, match=(r"no version '3'; registered: v2\.0\.0, v1\.0\.0 "
                                             r"\(or a stage: production\)")):
        gto_tags.resolve(repo, "3")


def _blessed_store(store: Path) -> None:
    store.mkdir(parents=True)
    (store / "version.json").write_text(
        '{"version": "v1.0.0", "number": 1, "weights_sha256": "ab", "classes": ["a", "b"], '
        '"image_size": 67, "accuracy": 0.5, "loss": 1.0, "images": 4}')


def test_only_a_dvc_lock_unlike_heads_blocks_registering(repo: Path) -> None:
    """A staged but uncommitted dvc.lock blocks (HEAD does not record the model); another
    uncommitted change does not."""
    _commit(repo, "dvc.lock")
    _commit(repo, "notes.txt")
    store = repo / "models" / "blessed"
    _blessed_store(store)
    (repo / "dvc.lock").write_text("the next run")
    run(["git", "add", "dvc.lock"], repo)
    with pytest.raises(RegistryError) as caught:
        gto_tags.register_blessed(repo, store)
    assert str(caught.value) == ("model registry: dvc.lock has changes that are not committed; "
                                 "commit it first (git commit dvc.lock ...), so that the version's "
                                 "commit records the blessed model")
    run(["git", "reset", "-q", "--hard"], repo)
    (repo / "notes.txt").write_text("edited, not committed, not the model's")
    assert gto_tags.register_blessed(repo, store) == ("v1.0.0", True)


def test_a_repository_without_a_commit_has_nothing_to_register_on(repo: Path) -> None:
    _blessed_store(repo / "models" / "blessed")
    expected = (f"^model registry: {re.escape(str(repo))} has no commit to register the model on: "
                "fatal: ")
    with pytest.raises(RegistryError, match=expected):
        gto_tags.register_blessed(repo, repo / "models" / "blessed")
    assert _tag_lines(repo) == []


def test_a_registered_version_is_fetched_from_the_dvc_cache(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the registered commit recorded, not what the workspace holds now. DVC sets the store
    up in subprocesses: in this process its logging and progress bars would keep pytest's
    captured stderr, closed after the test, and break the worker's later tests."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    store = repo / "models" / "blessed"
    _blessed_store(store)
    run([sys.executable, "-m", "dvc", "add", "-q", str(store)], repo)
    (repo / "dvc.yaml").write_text("artifacts:\n  alexnet:\n    path: models/blessed\n"
                                   "    type: model\n")
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "blessed v1"], repo)
    assert gto_tags.register_blessed(repo, store) == ("v1.0.0", True)
    blessed = (store / "version.json").read_text()
    (store / "version.json").write_text("changed since")
    fetched = gto_tags.fetch_version(repo, "v1.0.0", tmp_path / "fetched")
    assert fetched == tmp_path / "fetched" and (fetched / "version.json").read_text() == blessed
    with pytest.raises(RegistryError) as caught:
        gto_tags.fetch_version(repo, "v9.0.0", tmp_path / "none")
    assert str(caught.value) == ("model registry: cannot fetch alexnet@v9.0.0: Unable to find "
                                 "artifact 'alexnet @ v9.0.0'; is its data in the DVC cache or "
                                 "remote (dvc pull)?")
