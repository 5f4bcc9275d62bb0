"""Kaggle credentials, looked up the three documented ways, in the order the Kaggle tools use.

1. `KAGGLE_API_TOKEN` (a token, or the path of a file holding one);
2. `KAGGLE_USERNAME` and `KAGGLE_KEY`;
3. `kaggle.json` in `$KAGGLE_CONFIG_DIR` or `~/.kaggle` (warned about when others can read it).
With none of them the user gets one message listing all three, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from alexnet_pipeline.errors import PipelineError

log = logging.getLogger(__name__)

HOW_TO_AUTHENTICATE = (
    "give Kaggle credentials one of three ways: "
    "(1) export KAGGLE_API_TOKEN=<token>; "
    "(2) export KAGGLE_USERNAME=<user> KAGGLE_KEY=<key>; "
    "(3) save kaggle.json (from https://www.kaggle.com/settings, 'Create New Token') as "
    "~/.kaggle/kaggle.json (or in $KAGGLE_CONFIG_DIR) and chmod 600 it"
)


@dataclass(frozen=True)
class KaggleCredentials:
    """Either an API token or a username and key; `origin` says where they came from."""

    origin: str
    api_token: str | None = None
    username: str | None = None
    key: str | None = None


def kaggle_json_path() -> Path:
    folder = os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle"
    return Path(folder).expanduser() / "kaggle.json"


def _from_token_env() -> KaggleCredentials | None:
    token = os.environ.get("KAGGLE_API_TOKEN", "").strip()
    if not token:
        return None
    if Path(token).expanduser().is_file():
        token_file = Path(token).expanduser()
        token = token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise PipelineError(f"{token_file} (named by KAGGLE_API_TOKEN) is empty; {HOW_TO_AUTHENTICATE}")
    return KaggleCredentials(origin="KAGGLE_API_TOKEN", api_token=token)


def _from_username_env() -> KaggleCredentials | None:
    username = os.environ.get("KAGGLE_USERNAME", "").strip()
    key = os.environ.get("KAGGLE_KEY", "").strip()
    if not username and not key:
        return None
    if not (username and key):
        missing = "KAGGLE_KEY" if username else "KAGGLE_USERNAME"
        raise PipelineError(f"{missing} is not set while its partner is; set both, or {HOW_TO_AUTHENTICATE}")
    return KaggleCredentials(origin="KAGGLE_USERNAME/KAGGLE_KEY", username=username, key=key)


def _from_kaggle_json(path: Path) -> KaggleCredentials | None:
    if not path.is_file():
        return None
    if path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s is readable by other users; protect your API key with: chmod 600 %s", path, path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        username, key = str(content["username"]).strip(), str(content["key"]).strip()
    except (ValueError, KeyError, TypeError):
        raise PipelineError(f"{path}: not a Kaggle credentials file (want JSON with `username` and "
                            f"`key`); download a new one from https://www.kaggle.com/settings") from None
    if not (username and key):
        raise PipelineError(f"{path}: `username` or `key` is empty; download a new one from "
                            "https://www.kaggle.com/settings")
    return KaggleCredentials(origin=str(path), username=username, key=key)


def find_credentials() -> KaggleCredentials:
    """The first credentials found, or a PipelineError that lists the three ways to give them."""
    path = kaggle_json_path()
    found = _from_token_env() or _from_username_env() or _from_kaggle_json(path)
    if found is None:
        raise PipelineError(f"no Kaggle credentials found (looked for KAGGLE_API_TOKEN, "
                            f"KAGGLE_USERNAME/KAGGLE_KEY and {path}); {HOW_TO_AUTHENTICATE}")
    log.info("Kaggle credentials from %s", found.origin)
    return found
