"""Configuration: documented defaults, one clear message for invalid values, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.config import load_settings
from carnet.errors import ConfigurationError


def test_defaults_point_inside_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CARNET_DATA_DIR", "CARNET_DATABASE_URL", "CARNET_BLOB_DIR", "CARNET_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("var/carnet.db")
    assert settings.effective_blob_dir == Path("var/blobs")
    assert settings.timezone == "Europe/Paris"


def test_invalid_values_are_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("CARNET_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "CARNET_TIMEZONE" in caught.value.message
    assert "CARNET_DATABASE_URL" in caught.value.message
    assert caught.value.exit_code == 2


def test_show_hides_passwords(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARNET_SMTP_URL", "smtp://mailer:s3cret-pass@127.0.0.1:2525")
    status, out, _err = run_cli("config", "show")
    assert status == 0
    assert "s3cret-pass" not in out
    assert "mailer:***@127.0.0.1:2525" in out
    assert "Europe/Paris" in out


def test_cli_invalid_configuration_exits_2_without_traceback(run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARNET_BASE_URL", "ftp://nope")
    status, out, err = run_cli("config", "show")
    assert status == 2
    assert "CARNET_BASE_URL" in err
    assert "Traceback" not in out + err
