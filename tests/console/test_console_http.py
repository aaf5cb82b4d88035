"""The console over plain HTTP (Starlette's TestClient): what it shows, and who may act."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import httpx
import pytest

with warnings.catch_warnings():
    # Starlette 1.x nudges toward its httpx2 fork; httpx is what stanchion already depends on.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from actors.breaker import BreakerState
from actors.console import Console, create_app, serve_console
from actors.core import ConfigError
from actors.saga import SagaStatus
from actors.supervision import ActorSystem
from tests.conftest import named
from tests.console.scenario import Incident

TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}", "X-Stanchion-Operator": "ann"}


@pytest.fixture(scope="module")
def incident() -> Iterator[Incident]:
    with Incident() as running:
        yield running


@pytest.fixture
def client(incident: Incident) -> Iterator[TestClient]:
    console = Console(incident.system).watch(*incident.watched())
    with TestClient(create_app(console, token=TOKEN), base_url="http://127.0.0.1") as http:
        yield http


def test_the_page_shows_tree_breakers_sagas_queues_and_dead_letters(
        client: TestClient, incident: Incident) -> None:
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    for shown in ('data-service="stock"', 'data-service="mail"', 'data-breaker="mail-breaker"',
                  'data-saga="order-7"', 'data-queue="emails"', "poison", "max_attempts",
                  "runtime", "bus:bus", "queue:taskqueue", "/static/htmx.min.js"):
        assert shown in text, shown
    assert client.get("/static/htmx.min.js").text.startswith("var htmx=")
    for part in ("tree", "breakers", "sagas", "dead-letters", "queues"):
        assert client.get(f"/fragments/{part}").status_code == 200


def test_reading_the_page_sends_no_message_to_any_actor(
        client: TestClient, incident: Incident) -> None:
    def processed() -> dict[str, int]:
        # The queue's workers wake themselves on a timer (poll_interval): not the console.
        return {info.name: info.stats.processed for info in incident.system.services()
                if not info.name.startswith("taskqueue:")}

    before = processed()
    for _ in range(3):
        assert client.get("/").status_code == 200
        assert client.get("/sagas/order-7").status_code == 200
        assert client.get("/fragments/breakers").status_code == 200
    assert processed() == before


def test_a_saga_search_and_its_timeline(client: TestClient) -> None:
    found = client.get("/fragments/sagas", params={"q": "order", "status": "compensation_failed"})
    assert 'data-saga="order-7"' in found.text
    none = client.get("/fragments/sagas", params={"q": "order", "status": "completed"})
    assert "no saga matches" in none.text
    timeline = client.get("/sagas/order-7").text
    for shown in ('data-step="reserve"', 'data-step="charge"', "stock ledger offline",
                  "card declined"):
        assert shown in timeline, shown
    assert 'id="retry-saga"' in timeline


@pytest.mark.parametrize(("path", "params", "status", "says"), [
    ("/fragments/sagas", {"status": "lost"}, 400, "status="),
    ("/fragments/sagas", {"q": "x" * 201}, 400, "q="),
    ("/sagas/nope", {}, 404, "no saga 'nope'"),
    ("/sagas/%0A", {}, 400, "saga_id="),
    ("/fragments/nothing", {}, 404, "no part of the page"),
    ("/dead-letter", {"source": "elsewhere", "key": "1"}, 400, "source="),
    ("/dead-letter", {"source": "runtime", "key": "ffff"}, 404, "no dead letter"),
])
def test_bad_reads_are_4xx_with_a_clear_message(client: TestClient, path: str,
                                                params: dict[str, str], status: int,
                                                says: str) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == status
    assert says in answer.text.replace("&#39;", "'")


def test_actions_need_the_token_and_refusals_are_logged(
        client: TestClient, incident: Incident, events: list[dict[str, object]]) -> None:
    missing = client.post("/breakers/mail-breaker/force_open")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.post("/breakers/mail-breaker/force_open",
                        headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert client.get("/login", params={"token": "guess"}).status_code == 401
    assert incident.gate.breaker.state is BreakerState.CLOSED
    refused = named(events, "console.action_refused")
    assert len(refused) == 3
    assert all("client" in event for event in refused)


def test_a_signed_in_browser_acts_and_the_log_says_who(
        client: TestClient, incident: Incident, events: list[dict[str, object]]) -> None:
    signed = client.post("/login", data={"token": TOKEN, "operator": "ann"},
                         follow_redirects=False)
    assert signed.status_code == 303
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()
    cross_site = client.post("/breakers/mail-breaker/force_open",
                             headers={"Origin": "http://evil.example"})
    assert cross_site.status_code == 403
    done = client.post("/breakers/mail-breaker/force_open")
    assert done.status_code == 200, done.text
    assert done.headers["HX-Trigger"] == "stanchion-refresh"
    assert incident.gate.breaker.state is BreakerState.FORCED_OPEN
    [performed] = named(events, "console.action_performed")
    assert performed["operator"] == "ann"
    assert performed["action"] == "breaker.force_open"
    assert client.post("/breakers/mail-breaker/reset").status_code == 200
    assert incident.gate.breaker.state is BreakerState.CLOSED
    history = client.get("/fragments/breakers").text
    assert "console: ann" in history
    assert "forced_open" in history


@pytest.mark.parametrize(("path", "data", "status", "says"), [
    ("/breakers/mail-breaker/explode", {}, 400, "action="),
    ("/breakers/nobody/force_open", {}, 404, "no breaker 'nobody'"),
    ("/sagas/nope/retry", {}, 404, "no saga"),
    ("/dead-letters/replay", {"source": "runtime", "key": ""}, 400, "key="),
    ("/dead-letters/replay", {"source": "bus:bus", "key": "abc"}, 404, "no dead letter"),
    ("/dead-letters/replay", {"source": "bus:other", "key": "abc"}, 404, "no bus 'other'"),
    ("/dead-letters/shred", {"source": "runtime", "key": "a"}, 400, "action="),
    ("/dead-letters/purge", {"source": "queue:taskqueue", "key": "1"}, 409, "cannot be purged"),
])
def test_bad_actions_are_4xx_with_a_clear_message(client: TestClient, path: str,
                                                  data: dict[str, str], status: int,
                                                  says: str) -> None:
    answer = client.post(path, data=data, headers=BEARER)
    assert answer.status_code == status, answer.text
    assert says in answer.text.replace("&#39;", "'")


def test_hostile_bodies_and_operator_names_are_refused(client: TestClient) -> None:
    huge = client.post("/dead-letters/replay", content=b"source=" + b"x" * 20_000,
                       headers=BEARER)
    assert huge.status_code == 400
    not_utf8 = client.post("/dead-letters/replay", content=b"source=\xff\xfe", headers=BEARER)
    assert not_utf8.status_code == 400
    many = client.post("/dead-letters/replay", content="&".join(["a=1"] * 50).encode(),
                       headers=BEARER)
    assert many.status_code == 400
    bad_name = client.post("/breakers/mail-breaker/reset",
                           headers={**BEARER, "X-Stanchion-Operator": "a\tb"})
    assert bad_name.status_code == 400


def test_a_stuck_saga_is_retried_once_it_can_succeed(client: TestClient,
                                                     incident: Incident) -> None:
    incident.switch.mend()
    done = client.post("/sagas/order-7/retry", headers=BEARER)
    assert done.status_code == 200, done.text
    final = incident.sagas.wait("order-7", 10)
    assert final.status is SagaStatus.COMPENSATED
    again = client.post("/sagas/order-7/retry", headers=BEARER)
    assert again.status_code == 409
    assert "not stuck" in again.text


def test_read_only_refuses_every_action_and_shows_no_button(incident: Incident) -> None:
    console = Console(incident.system).watch(*incident.watched())
    app = create_app(console, token=TOKEN, read_only=True)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        page = http.get("/").text
        assert "force open" not in page
        assert "sign in" not in page
        assert "read-only" in page
        for path in ("/breakers/mail-breaker/force_open", "/sagas/order-7/retry"):
            refused = http.post(path, headers=BEARER)
            assert refused.status_code == 403
            assert "read-only" in refused.text
    assert incident.gate.breaker.state is not BreakerState.FORCED_OPEN


def test_settings_are_validated() -> None:
    with ActorSystem() as system:
        console = Console(system)
        with pytest.raises(ConfigError, match="token"):
            create_app(console, token="short")
        with pytest.raises(ConfigError, match="host"):
            serve_console(system, host="0.0.0.0")
        with pytest.raises(ConfigError, match="port"):
            serve_console(system, port=70_000)
        with pytest.raises(ConfigError, match="objects"):
            console.watch("a breaker, honest")
        with pytest.raises(ConfigError, match="refresh_seconds"):
            create_app(console, token=TOKEN, refresh_seconds=float("nan"))


def test_serve_console_listens_on_loopback_and_stops(no_thread_leaks: None) -> None:
    with ActorSystem() as system:
        server = serve_console(system, port=0)
        try:
            assert server.url.startswith("http://127.0.0.1:")
            assert server.login_url.endswith(f"login?token={server.token}")
            assert len(server.token) >= 16
            assert httpx.get(server.url, timeout=5).status_code == 200
        finally:
            assert server.stop()
        assert not server.running


def test_purging_dead_letters_discards_them(client: TestClient, incident: Incident,
                                            events: list[dict[str, object]]) -> None:
    page = client.get("/fragments/dead-letters").text
    runtime_key = re.search(r'data-letter="runtime/([0-9a-f]+)"', page)
    bus_key = re.search(r'data-letter="bus:bus/([0-9a-f]+)"', page)
    assert runtime_key
    assert bus_key
    inspected = client.get("/dead-letter", params={"source": "runtime",
                                                   "key": runtime_key.group(1)})
    assert "your order" in inspected.text
    for source, key in (("runtime", runtime_key.group(1)), ("bus:bus", bus_key.group(1))):
        done = client.post("/dead-letters/purge", data={"source": source, "key": key},
                           headers=BEARER)
        assert done.status_code == 200, done.text
        again = client.post("/dead-letters/purge", data={"source": source, "key": key},
                            headers=BEARER)
        assert again.status_code == 404
    assert incident.system.dead_letters.list(service="mail") == []
    assert incident.bus.dead_letters() == []
    assert incident.switch.mail == []  # purged, not delivered
    assert [e["action"] for e in named(events, "console.action_performed")] == [
        "dead_letter.purge", "dead_letter.purge"]
