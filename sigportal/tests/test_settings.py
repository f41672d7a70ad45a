"""Settings refuse what would be unsafe in production (STYLE.md habit 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_LOAD = "import django; django.setup(); from django.conf import settings; print('ok')"


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGPORTAL_")}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", _LOAD],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "sigportal.settings",
            "SIGPORTAL_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_key_passphrase(tmp_path: Path) -> None:
    result = _load_settings(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/x")
    assert result.returncode != 0
    assert "set SIGPORTAL_KEY_PASSPHRASE" in result.stderr
    assert not (tmp_path / "key_passphrase").exists()


@pytest.mark.parametrize(
    "env",
    [
        {},  # the embedded default: SQLite
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x", "SIGPORTAL_DEV_IDP": "true"},
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x", "SIGPORTAL_KEY_PASSPHRASE": "s"},
    ],
)
def test_development_and_configured_instances_start(tmp_path: Path, env: dict[str, str]) -> None:
    result = _load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    generated = (tmp_path / "key_passphrase").exists()
    assert generated is ("SIGPORTAL_KEY_PASSPHRASE" not in env)
