"""Blessed versions as GTO tags in a temp git repo: register, list, resolve, and refuse clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexnet_pipeline.registry import gto_tags
from alexnet_pipeline.registry.gto_tags import RegistryError
from tests.helpers import run

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
