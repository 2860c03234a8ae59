"""The dashboard in a real browser: sign up, create a payer, read its FHIR base URL."""

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_it_signs_up_creates_a_payer_and_shows_its_fhir_base_url(browser_page, live_server, settings, tmp_path):
    settings.SANDBOX_PUBLIC_URL = live_server.url
    page = browser_page
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up").first.click()

    page.fill("#id_username", "connectathon-dev")
    page.fill("#id_email", "dev@example.test")
    page.fill("#id_password1", "a-long-passphrase-1")
    page.fill("#id_password2", "a-long-passphrase-1")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_text("You have no simulated payers yet").wait_for()

    page.get_by_role("link", name="Create a payer").first.click()
    page.fill("#id_name", "Browser Health Plan")
    # The slug is suggested from the name as it is typed.
    assert page.input_value("#id_slug") == "browser-health-plan"
    page.select_option("#id_pdex_version", "2.2")
    page.get_by_role("button", name="Create payer").click()

    page.locator("#payer-status", has_text="Ready").wait_for()
    fhir_base = page.inner_text("#fhir-base-url").strip()
    assert fhir_base == f"{live_server.url}/t/browser-health-plan/fhir"
    page.screenshot(path=str(tmp_path / "payer.png"), full_page=True)

    # The URL on the card is live: the tenant answers under it.
    home = httpx.get(fhir_base.removesuffix("/fhir") + "/", timeout=10).json()
    assert home["slug"] == "browser-health-plan" and home["pdexVersion"] == "2.2"
