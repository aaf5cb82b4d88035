"""The console in a real browser: Debian's headless Chromium, driven by Selenium + chromedriver.

An operator signs in, forces a breaker open, replays dead letters and retries
a stuck saga by clicking; each test checks that the system's state changed.
CI installs `chromium` and `chromium-driver` (.ci/run); elsewhere the tests
skip without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import DeadLetter
from actors.breaker import BreakerState
from actors.console import ConsoleServer, serve_console
from actors.saga import SagaStatus
from tests.console.scenario import Incident

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 15.0

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser tests: apt-get install chromium chromium-driver",
                    pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to exist
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def incident() -> Iterator[Incident]:
    with Incident() as running:
        yield running


@pytest.fixture(scope="module")
def server(incident: Incident) -> Iterator[ConsoleServer]:
    # Slow polling: the clicks below must not race a section being re-rendered.
    with serve_console(incident.system, watch=incident.watched(), port=0,
                       refresh_seconds=600) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, WAIT, ignored_exceptions=(Exception,)).until(condition)


def flash(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "flash").text)


@pytest.fixture(scope="module")
def signed_in(browser: WebDriver, server: ConsoleServer) -> WebDriver:
    browser.get(server.url)
    browser.find_element(By.CSS_SELECTOR, "#login input[name=operator]").send_keys("ann")
    browser.find_element(By.CSS_SELECTOR, "#login input[name=token]").send_keys(server.token)
    browser.find_element(By.ID, "sign-in").click()
    until(browser, lambda d: "signed in as" in d.find_element(By.CLASS_NAME, "who").text)
    return browser


def test_a_screenshot_of_the_incident(signed_in: WebDriver, tmp_path: Path) -> None:
    signed_in.get(signed_in.current_url)
    shot = tmp_path / "console.png"
    assert signed_in.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wanted = os.environ.get("STANCHION_CONSOLE_SCREENSHOT")
    if wanted:  # how docs/console.png is made
        shutil.copyfile(shot, wanted)


def test_force_open_a_breaker_by_clicking(signed_in: WebDriver, incident: Incident) -> None:
    breaker = signed_in.find_element(By.CSS_SELECTOR, '[data-breaker="mail-breaker"]')
    breaker.find_element(By.CSS_SELECTOR, "button[name=force_open]").click()
    until(signed_in, lambda d: "breaker.force_open mail-breaker" in flash(d))
    assert incident.gate.breaker.state is BreakerState.FORCED_OPEN
    until(signed_in, lambda d: d.find_element(
        By.CSS_SELECTOR, '[data-breaker="mail-breaker"] [data-state]').text == "forced_open")
    assert "console: ann" in signed_in.find_element(
        By.CSS_SELECTOR, '[data-breaker="mail-breaker"] table').text


def test_replay_dead_letters_by_clicking(signed_in: WebDriver, incident: Incident) -> None:
    incident.switch.mend()
    for source, received in (("runtime/", incident.switch.mail),
                             ("bus:bus/", incident.switch.events),
                             ("queue:taskqueue/", incident.switch.tasks)):
        row = signed_in.find_element(By.CSS_SELECTOR, f'tr[data-letter^="{source}"]')
        row.find_element(By.CSS_SELECTOR, "button.replay").click()
        until(signed_in, lambda d, s=source: f"dead_letter.replay {s}" in flash(d))
        assert incident.switch.wait(received), f"the {source} letter was not delivered again"
        until(signed_in, lambda d, s=source: not d.find_elements(
            By.CSS_SELECTOR, f'tr[data-letter^="{s}"]'))
    assert incident.switch.mail == [{"to": "ann", "text": "your order"}]
    assert incident.system.dead_letters.list(service="mail") == []


def test_retry_a_stuck_saga_by_clicking(signed_in: WebDriver, incident: Incident,
                                        server: ConsoleServer) -> None:
    incident.switch.mend()
    signed_in.get(server.url)
    signed_in.find_element(By.LINK_TEXT, incident.saga_id).click()
    until(signed_in, lambda d: d.find_element(By.ID, "saga-status").text
          == "compensation_failed")
    assert "stock ledger offline" in signed_in.find_element(
        By.CSS_SELECTOR, '[data-step="reserve"]').text
    signed_in.find_element(By.ID, "retry-saga").click()
    until(signed_in, lambda d: "saga.retry order-7" in flash(d))
    assert incident.sagas.wait(incident.saga_id, 10).status is SagaStatus.COMPENSATED
    until(signed_in, lambda d: d.find_element(By.ID, "saga-status").text == "compensated")


def test_purge_a_dead_letter_after_confirming(signed_in: WebDriver, incident: Incident,
                                              server: ConsoleServer) -> None:
    letter = DeadLetter("mail", {"to": "zed", "text": "never mind"}, "stopped")
    incident.system.dead_letters.add(letter)
    signed_in.get(server.url)
    row = signed_in.find_element(By.CSS_SELECTOR, 'tr[data-letter^="runtime/"]')
    assert "never mind" in row.text
    row.find_element(By.CSS_SELECTOR, "button.purge").click()
    until(signed_in, lambda d: d.switch_to.alert).accept()  # "Discard this dead letter?"
    until(signed_in, lambda d: "dead_letter.purge runtime/" in flash(d))
    assert incident.system.dead_letters.list(service="mail") == []
    assert {"to": "zed", "text": "never mind"} not in incident.switch.mail
