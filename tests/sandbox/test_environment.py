import pytest
from django.core.exceptions import ImproperlyConfigured

from sandbox.environment import env_bool, env_int, env_list, env_secret


def test_it_reads_booleans_and_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG", True)


def test_it_reads_integers_lists_and_defaults(monkeypatch):
    assert env_int("X_MISSING", 7) == 7
    monkeypatch.setenv("X_NUM", "12")
    assert env_int("X_NUM", 7) == 12
    monkeypatch.setenv("X_NUM", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_NUM", 7)
    monkeypatch.setenv("X_LIST", " 10.0.0.1, ,127.0.0.1 ")
    assert env_list("X_LIST") == ["10.0.0.1", "127.0.0.1"]


def test_it_reads_a_secret_from_a_mounted_file(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "key"))
    assert env_secret("X_SECRET", "default") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("X_SECRET", "default")
