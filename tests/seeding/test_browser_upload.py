"""Uploading data from the dashboard in a real browser: the page follows the worker's progress."""

import json

import pytest

from sandbox.seeding import tasks, uploads
from tests.browser.conftest import browser_page  # noqa: F401  (the fixture lives with the browser tests)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page, live_server):
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct horse battery staple")
    page.get_by_role("button", name="Sign in").or_(page.get_by_role("button", name="Log in")).first.click()


@pytest.mark.django_db(transaction=True)
def test_the_upload_page_follows_a_load_to_its_end(
    browser_page,  # noqa: F811
    live_server,
    tenant,
    user,
    settings,
    tmp_path,
    monkeypatch,
):
    settings.SANDBOX_PUBLIC_URL = live_server.url
    settings.TENANT_FILES_DIR = tmp_path / "files"
    # No worker picks the job up until the test runs it, so the page is seen waiting first.
    monkeypatch.setattr(tasks.load_upload_task, "delay_on_commit", lambda *args: None)
    data = tmp_path / "members.ndjson"
    data.write_text(
        "".join(json.dumps({"resourceType": "Patient", "id": f"b{i}", "gender": "other"}) + "\n" for i in range(3))
    )
    page = browser_page
    _sign_in(page, live_server)
    page.goto(live_server.url + "/payers/acme/data/upload/")
    page.set_input_files("#id_files", str(data))
    page.get_by_role("button", name="Validate and load").click()

    page.locator("#upload-progress").wait_for()
    assert "Received 1 file; a worker is loading them." in page.content()
    assert page.inner_text("#upload-message") == "Waiting for a worker…"

    uploads.run_load(tenant, uploads.latest_load_job(tenant).pk)
    # The page polls, sees the job finish and reloads itself with the outcome.
    page.locator("#upload-progress").wait_for(state="detached")
    assert page.inner_text("#upload-message") == "Loaded 3 resources (3 created, 0 updated)."
    assert "3 Patient" in page.inner_text("#upload-job")


@pytest.mark.django_db(transaction=True)
def test_the_upload_page_lists_the_problems_of_a_bad_file(
    browser_page,  # noqa: F811
    live_server,
    tenant,
    user,
    settings,
    tmp_path,
):
    settings.SANDBOX_PUBLIC_URL = live_server.url
    settings.TENANT_FILES_DIR = tmp_path / "files"
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"resourceType": "Patient", "birthDate": "yesterday"}\n')
    page = browser_page
    _sign_in(page, live_server)
    page.goto(live_server.url + "/payers/acme/data/upload/")
    page.set_input_files("#id_files", str(bad))
    page.get_by_role("button", name="Validate and load").click()
    page.locator("#upload-problems").wait_for()
    assert page.inner_text("#upload-problems") == "Nothing was loaded: 1 problem."
    row = page.locator("#upload-job tbody tr")
    assert row.count() == 1 and "line 1" in row.inner_text() and "birthDate" in row.inner_text()
