"""Adding a member through the dashboard form in a real browser, then finding them in the members list."""

import pytest

from sandbox.seeding import populate
from tests.browser.conftest import browser_page  # noqa: F401  (the fixture lives with the browser tests)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_it_adds_a_member_and_finds_them_in_the_list(browser_page, live_server, tenant, user, settings):  # noqa: F811
    settings.SANDBOX_PUBLIC_URL = live_server.url
    populate.seed_tenant(tenant, members=4, seed=1, validate=False)
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "correct horse battery staple")
    page.get_by_role("button", name="Sign in").or_(page.get_by_role("button", name="Log in")).first.click()

    page.goto(live_server.url + "/payers/acme/")
    page.click("#members-link")
    page.click("#add-member")
    page.fill("#id_family", "Browserton")
    page.fill("#id_given", "Bea")
    page.select_option("#id_gender", "female")
    page.fill("#id_birth_date", "1985-03-14")
    page.select_option("#id_plan_id", "plan-com")
    page.fill("#id_coverage_start", "2025-01-01")
    page.get_by_role("button", name="Save member").click()

    page.locator("#member-id").wait_for()
    member_id = page.inner_text("#member-id").strip()
    assert member_id.startswith("ACMM")
    assert "Browserton" in page.inner_text("#member-match-request")

    page.click("#data-nav >> text=Members")
    page.fill("#id_q", member_id)
    page.get_by_role("button", name="Search").click()
    row = page.locator("#member-table tbody tr")
    assert row.count() == 1
    assert "Bea Browserton" in row.inner_text()
