"""Kaggle credentials: the three ways, their order, the kaggle.json permission warning, and one
message listing all three when none is given."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from alexnet_pipeline.errors import PipelineError
from alexnet_pipeline.sources.kaggle_credentials import KaggleCredentials, find_credentials


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with no ~/.kaggle and none of the variables set; returns HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_kaggle_json(folder: Path, content: object, mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kaggle.json"
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    path.chmod(mode)
    return path


def test_none_lists_the_three_ways(no_credentials: Path) -> None:
    with pytest.raises(PipelineError) as failure:
        find_credentials()
    message = str(failure.value)
    assert "no Kaggle credentials found" in message
    for way in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME=<user> KAGGLE_KEY=<key>", "~/.kaggle/kaggle.json"):
        assert way in message


def test_token_comes_first(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_kaggle_json(no_credentials / ".kaggle", {"username": "file-user", "key": "file-key"})
    monkeypatch.setenv("KAGGLE_USERNAME", "env-user")
    monkeypatch.setenv("KAGGLE_KEY", "env-key")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "tok")
    assert find_credentials() == KaggleCredentials(origin="KAGGLE_API_TOKEN", api_token="tok")


def test_token_may_be_a_file(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = no_credentials / "token.txt"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    assert find_credentials().api_token == "from-file"


def test_username_and_key_beat_kaggle_json(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_kaggle_json(no_credentials / ".kaggle", {"username": "file-user", "key": "file-key"})
    monkeypatch.setenv("KAGGLE_USERNAME", "env-user")
    monkeypatch.setenv("KAGGLE_KEY", "env-key")
    assert find_credentials() == KaggleCredentials(origin="KAGGLE_USERNAME/KAGGLE_KEY",
                                                   username="env-user", key="env-key")


def test_half_of_the_pair_is_an_error(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "env-user")
    with pytest.raises(PipelineError, match="KAGGLE_KEY is not set while its partner is"):
        find_credentials()


def test_kaggle_json_private_is_used_quietly(no_credentials: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_kaggle_json(no_credentials / ".kaggle", {"username": "u", "key": "k"})
    with caplog.at_level(logging.WARNING):
        assert find_credentials() == KaggleCredentials(origin=str(path), username="u", key="k")
    assert caplog.records == []


def test_kaggle_json_readable_by_others_warns(no_credentials: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_kaggle_json(no_credentials / ".kaggle", {"username": "u", "key": "k"}, mode=0o644)
    with caplog.at_level(logging.WARNING):
        assert find_credentials().username == "u"
    assert f"{path} is readable by other users" in caplog.text and "chmod 600" in caplog.text


def test_kaggle_config_dir_is_honoured(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_kaggle_json(no_credentials / "elsewhere", {"username": "u", "key": "k"})
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(path.parent))
    assert find_credentials().origin == str(path)


@pytest.mark.parametrize("content", ["{not json", {"username": "u"}, ["u", "k"], {"username": "", "key": "k"}])
def test_broken_kaggle_json_names_the_file(no_credentials: Path, content: object) -> None:
    path = write_kaggle_json(no_credentials / ".kaggle", content)
    with pytest.raises(PipelineError, match=str(path)):
        find_credentials()
