"""The admin in a real browser: headless Chromium through Selenium against a live server.

These run in `make test`, which installs Debian's `chromium` and `chromium-driver` first where
it can (tests/prerequisites.sh); run alone without them, they fail and say so; they never skip.
CHROMIUM and CHROMEDRIVER name other binaries. Screenshots go to tests/screenshots/ (not in git).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from deployments.models import Deployment, Status
from flows.services import flow_update
from tenants.models import TenantCredential
from tests.admin.conftest import GRAPH, KEY, change_url, grid_accepts, make_deployment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@pytest.fixture
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"Browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} "
            "missing): run `make test`, or apt-get install -y chromium chromium-driver"
        )
    profile = tempfile.mkdtemp(prefix="admin-browser-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for CSP
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Installed in every page before its own scripts run: collects each CSP violation.
CSP_LISTENER = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
  e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile));
"""


def shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"admin-{name}.png"))


def log_in(driver, live_server, username: str, password: str) -> None:
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 10).until(expected_conditions.url_to_be(f"{live_server.url}/admin/"))


def test_tenant_admin_sets_a_key_and_retries_a_failed_publish(
    browser, live_server, ada, acme_flow, upstream
):
    failed = make_deployment(acme_flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    grid_accepts(upstream)

    log_in(browser, live_server, "ada", "pw-ada-123")
    shot(browser, "index")

    # Set the tenant's key through the write-only field.
    browser.get(f"{live_server.url}/admin/tenants/tenant/{acme_flow.tenant.pk}/change/")
    browser.find_element(By.NAME, "scaigrid_api_key").send_keys(KEY)
    browser.find_element(By.NAME, "_continue").click()
    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert KEY not in browser.page_source
    shot(browser, "tenant-key-set")
    assert TenantCredential.objects.get(tenant=acme_flow.tenant).api_key_hint

    # Failed deploys are one click from the index.
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.LINK_TEXT, "Failed deploys").click()
    assert failed.pk in browser.page_source
    shot(browser, "failed-deploys")

    # Open it: the error's fix and the timeline.
    browser.find_element(By.LINK_TEXT, failed.pk).click()
    assert "do the scaicore_publish_failed fix" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "table.steps-timeline tr.step")
    shot(browser, "deployment-detail")

    # Retry the publish from the list.
    browser.back()
    browser.find_element(
        By.CSS_SELECTOR, f"input[name=_selected_action][value='{failed.pk}']"
    ).click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry_publish")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    shot(browser, "retry-publish")
    new = Deployment.objects.exclude(pk=failed.pk).get()
    assert new.status == Status.SUCCEEDED and new.actor == "admin:ada"
    assert new.pk in message


def test_superuser_opens_a_flow_and_sees_its_graph(browser, live_server, superuser, acme_flow):
    log_in(browser, live_server, "root", "pw-root-123")
    browser.get(f"{live_server.url}/admin/flows/flow/")
    browser.find_element(By.LINK_TEXT, "Acme echo").click()
    graph = browser.find_element(By.CSS_SELECTOR, "svg.flow-graph")
    assert graph.is_displayed()
    # Never wider than its box, so never clipped.
    box = graph.find_element(By.XPATH, "..")
    assert 0 < graph.size["width"] <= box.size["width"]
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg.flow-graph g.node")
    assert {n.get_attribute("data-node-id") for n in nodes} == {"start", "answer", "reply"}
    assert browser.find_element(By.CSS_SELECTOR, "pre.manifest").is_displayed()
    browser.execute_script("arguments[0].scrollIntoView()", graph)
    shot(browser, "flow-graph")


def test_no_band_above_the_fieldset_headings_of_the_flow_page(
    browser, live_server, superuser, acme_flow
):
    """The diff section starts below the (floated) form: its heading's background did not
    fill the whole form's height, showing as a band in the gap above each fieldset heading."""
    log_in(browser, live_server, "root", "pw-root-123")
    browser.get(f"{live_server.url}/admin/flows/flow/{acme_flow.pk}/change/")
    form = browser.find_element(By.ID, "content-main")
    heading = browser.find_element(By.CSS_SELECTOR, "#version-diff h2")
    assert heading.rect["y"] >= form.rect["y"] + form.rect["height"] - 1  # rounded sizes
    assert heading.rect["height"] < 60
    graph = browser.find_element(By.XPATH, "//h2[@class='fieldset-heading'][.='Graph']")
    browser.execute_script("arguments[0].scrollIntoView()", graph)
    shot(browser, "flow-fieldset-headings")


def test_compile_button_on_the_flow_page(browser, live_server, superuser, acme_flow):
    log_in(browser, live_server, "root", "pw-root-123")
    browser.get(f"{live_server.url}/admin/flows/flow/{acme_flow.pk}/change/")
    browser.find_element(By.XPATH, "//button[normalize-space()='Compile']").click()
    assert "compiles cleanly" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    shot(browser, "flow-compiled")


def test_diff_two_versions_on_the_flow_page(browser, live_server, superuser, acme_flow):
    changed = copy.deepcopy(GRAPH)
    changed["nodes"].append({"id": "audit", "kind": "output", "data": {"value": "logged"}})
    changed["edges"].append({"source": "answer", "target": "audit"})
    flow = flow_update(flow=acme_flow, actor="test", content=changed)
    flow = flow_update(flow=flow, actor="test", content=copy.deepcopy(GRAPH))

    log_in(browser, live_server, "root", "pw-root-123")
    browser.get(f"{live_server.url}/admin/flows/flow/{flow.pk}/change/")
    Select(browser.find_element(By.NAME, "diff_from")).select_by_value("1")
    Select(browser.find_element(By.NAME, "diff_to")).select_by_value("2")
    browser.find_element(By.XPATH, "//button[normalize-space()='Show changes']").click()
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "pre.manifest-diff"))
    )

    assert "audit" in browser.find_element(By.CSS_SELECTOR, "tr.nodes-added").text
    added = browser.find_elements(By.CSS_SELECTOR, "pre.manifest-diff .diff-added")
    assert any("id: audit" in line.text for line in added)
    assert Select(browser.find_element(By.NAME, "diff_from")).first_selected_option.text == "v1"
    assert "diff_from=1&diff_to=2" in browser.current_url  # a link to this diff
    browser.set_window_size(1400, 2600)  # the whole page, the diff at its end
    shot(browser, "flow-version-diff")


def csp_violations(driver) -> list[str]:
    """What the page's CSP refused so far: from the listener, and from the console."""
    seen = list(driver.execute_script("return window.cspViolations || []"))
    seen += [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    return seen


def test_admin_and_api_docs_work_under_the_content_security_policy(
    browser, live_server, superuser, acme_flow
):
    """Every page sends a Content-Security-Policy (no inline script or style, assets from
    ScaiFlow only) and breaks none of it: no violation in the console, on any page."""
    changed = copy.deepcopy(GRAPH)
    changed["nodes"].append({"id": "audit", "kind": "output", "data": {"value": "logged"}})
    changed["edges"].append({"source": "answer", "target": "audit"})
    flow = flow_update(flow=acme_flow, actor="test", content=changed)
    deployment = make_deployment(flow, status=Status.PUBLISH_FAILED, core_id="core_1")
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_LISTENER})

    browser.get(f"{live_server.url}/admin/login/")
    assert csp_violations(browser) == []
    log_in(browser, live_server, "root", "pw-root-123")
    pages = {
        "index": "/admin/",
        "tenants": "/admin/tenants/tenant/",
        "tenant": f"/admin/tenants/tenant/{flow.tenant.pk}/change/",
        "flows": "/admin/flows/flow/",
        "flow with a diff": f"/admin/flows/flow/{flow.pk}/change/?diff_from=1&diff_to=2",
        "deployments": "/admin/deployments/deployment/",
        "deployment": change_url(deployment),
    }
    for name, path in pages.items():
        browser.get(live_server.url + path)
        assert browser.find_element(By.ID, "content").is_displayed(), name
        assert csp_violations(browser) == [], name
    # Styles from the static file apply: the badge is coloured, the diff's lines too.
    badge = browser.find_element(By.CSS_SELECTOR, ".status-badge.status-publish_failed")
    assert badge.value_of_css_property("background-color") == "rgba(239, 108, 0, 1)"
    assert browser.find_element(By.CSS_SELECTOR, "table.steps-timeline td.bar svg rect")
    shot(browser, "csp-deployment")

    # Swagger UI: its start-up script is a file, it loads the schema and draws the operations.
    browser.get(f"{live_server.url}/api/docs/")
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 10
    browser.find_element(By.CSS_SELECTOR, ".opblock .opblock-summary").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock-body"))
    )
    assert csp_violations(browser) == []
    shot(browser, "csp-api-docs")
