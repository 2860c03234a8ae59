import pytest

from sandbox import checks
from sandbox.checks import production_settings_check


def _ids():
    return {problem.id for problem in production_settings_check(None)}


@pytest.fixture
def production(settings, monkeypatch):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-" + "x" * 40
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SANDBOX_PUBLIC_URL = "https://sandbox.example.org"
    settings.ALLOWED_HOSTS = ["sandbox.example.org"]
    monkeypatch.setattr(checks, "_is_sqlite", lambda: False)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    return settings


def test_it_accepts_a_production_configuration(production):
    assert _ids() == set()


def test_it_refuses_the_development_secret_key_without_debug(production):
    production.SECRET_KEY = production.INSECURE_SECRET_KEY
    assert "sandbox.E001" in _ids()


def test_it_refuses_sqlite_with_several_web_workers(production, monkeypatch):
    monkeypatch.setattr(checks, "_is_sqlite", lambda: True)
    production.WEB_CONCURRENCY = 4
    assert {"sandbox.E002", "sandbox.W001"} <= _ids()


def test_it_refuses_eager_celery_outside_development(production):
    production.CELERY_TASK_ALWAYS_EAGER = True
    assert "sandbox.E003" in _ids()


def test_it_refuses_a_proxy_mtls_source_without_trusted_proxies(production):
    production.MTLS_SOURCE = "proxy"
    production.MTLS_TRUSTED_PROXIES = []
    assert "sandbox.E005" in _ids()
    production.MTLS_SOURCE = "header"
    assert "sandbox.E004" in _ids()


def test_it_warns_about_the_filesystem_broker_and_plain_http_in_production(production):
    production.CELERY_BROKER_URL = "filesystem://"
    production.SANDBOX_PUBLIC_URL = "http://sandbox.example.org"
    assert {"sandbox.W002", "sandbox.W004"} <= _ids()


def test_it_says_nothing_about_the_embedded_defaults_in_development(settings, monkeypatch):
    monkeypatch.setattr(checks, "_is_sqlite", lambda: True)
    settings.DEBUG = True
    settings.WEB_CONCURRENCY = 1
    assert _ids() == set()
