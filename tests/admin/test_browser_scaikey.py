"""Signing in to the admin in a real browser (headless Chromium through Selenium): "Sign in
with ScaiKey" against devstack's ScaiKey, what each role then sees, a refusal, and the
password lockout. Like test_browser.py, these fail (not skip) without Chromium."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tenants.models import TenantCredential
from tests.admin import test_browser
from tests.admin.conftest import KEY, change_url, make_flow
from tests.admin.test_browser import shot

browser = test_browser.browser  # the same headless Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scaikey(devstack_settings, live_server, settings):
    devstack_settings.stack.oidc.register_admin([live_server.url])
    settings.SCAIKEY_OIDC_CLIENT_ID = "scaiflow-admin"
    settings.SCAIKEY_OIDC_CLIENT_SECRET = ""
    settings.SCAIKEY_OIDC_DISCOVERY_URL = ""
    return devstack_settings


def present(driver, by, value) -> bool:
    """Whether the loaded page has the element, without the implicit wait for absent ones."""
    driver.implicitly_wait(0)
    try:
        return bool(driver.find_elements(by, value))
    finally:
        driver.implicitly_wait(5)


def scaikey_sign_in(driver, live_server, *, tenant, sub, roles="", claims=None) -> None:
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.ID, "scaikey-sign-in-link").click()
    # devstack's ScaiKey asks who we are.
    WebDriverWait(driver, 10).until(expected_conditions.title_is("Sign in to ScaiKey"))
    for name, value in (("tenant", tenant), ("sub", sub), ("roles", roles)):
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    if claims is not None:
        driver.find_element(By.CSS_SELECTOR, "details summary").click()
        driver.find_element(By.NAME, "claims").send_keys(json.dumps(claims))
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 10).until(expected_conditions.url_contains("/admin/"))


def test_a_tenant_admin_signs_in_with_scaikey_and_sets_the_key(
    browser, live_server, scaikey, acme, globex
):
    scaikey_sign_in(browser, live_server, tenant="acme", sub="ada", roles="tenant_admin")
    assert browser.current_url == f"{live_server.url}/admin/"
    assert "scaikey:ada" in browser.find_element(By.ID, "user-tools").text.lower()
    shot(browser, "scaikey-index")

    browser.get(f"{live_server.url}/admin/tenants/tenant/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == ["acme"]

    browser.get(f"{live_server.url}{change_url(acme)}")
    browser.find_element(By.NAME, "scaigrid_api_key").send_keys(KEY)
    browser.find_element(By.NAME, "_continue").click()
    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert KEY not in browser.page_source
    assert TenantCredential.objects.get(tenant=acme).updated_by == "admin:scaikey:ada"


def test_a_member_sees_read_only_and_another_tenant_sees_nothing_of_it(
    browser, live_server, scaikey, acme
):
    flow = make_flow(acme, "Acme echo")
    scaikey_sign_in(browser, live_server, tenant="acme", sub="mo", roles="")
    browser.get(f"{live_server.url}{change_url(flow)}")
    assert browser.find_element(By.CSS_SELECTOR, "svg.flow-graph").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "button[value='0']")  # Compile
    assert "Deploy" not in [b.text for b in browser.find_elements(By.CSS_SELECTOR, "button")]
    browser.get(f"{live_server.url}{change_url(acme)}")
    assert not present(browser, By.NAME, "scaigrid_api_key")
    assert not present(browser, By.NAME, "_save")
    shot(browser, "scaikey-member-tenant")

    scaikey_sign_in(browser, live_server, tenant="globex", sub="gus", roles="tenant_admin")
    for url in ("/admin/tenants/tenant/", "/admin/flows/flow/"):
        browser.get(f"{live_server.url}{url}")
        assert "acme" not in browser.find_element(By.ID, "content").text.lower()
    browser.get(f"{live_server.url}{change_url(flow)}")
    assert "Acme echo" not in browser.find_element(By.ID, "content").text


def test_a_role_removed_in_scaikey_is_gone_at_the_next_sign_in(browser, live_server, scaikey, acme):
    scaikey_sign_in(browser, live_server, tenant="acme", sub="ada", roles="tenant_admin")
    browser.get(f"{live_server.url}{change_url(acme)}")
    assert browser.find_elements(By.NAME, "scaigrid_api_key")

    scaikey_sign_in(browser, live_server, tenant="acme", sub="ada", roles="")
    browser.get(f"{live_server.url}{change_url(acme)}")
    assert not present(browser, By.NAME, "scaigrid_api_key")
    assert get_user_model().objects.filter(username="scaikey:ada").count() == 1


def test_a_token_without_a_tenant_is_refused_with_a_message(browser, live_server, scaikey):
    scaikey_sign_in(browser, live_server, tenant="", sub="ada", claims={"tenant": None})
    assert browser.current_url == f"{live_server.url}/admin/login/"
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert "Signing in with ScaiKey failed" in message and "no tenant" in message
    shot(browser, "scaikey-refused")


def sign_in_with_password(browser, live_server, password: str) -> None:
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("root")
    browser.find_element(By.NAME, "password").send_keys(password)
    submit = browser.find_element(By.CSS_SELECTOR, "input[type=submit]")
    submit.click()
    # The answer has replaced the form before the next page is asked for.
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(submit))


def test_five_bad_passwords_lock_the_login(browser, live_server, superuser):
    for attempt in range(5):
        sign_in_with_password(browser, live_server, f"wrong-{attempt}")
    assert "Too many failed sign-ins" in browser.find_element(By.ID, "locked-out").text
    shot(browser, "locked-out")
    sign_in_with_password(browser, live_server, "pw-root-123")
    assert browser.find_elements(By.ID, "locked-out")  # even the right password
