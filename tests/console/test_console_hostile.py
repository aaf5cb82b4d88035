"""Hostile input at every console entry point: always a clear 4xx (or a page), never a 500."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from actors.console import Console, create_app
from tests.console.scenario import Incident
from tests.hypothesis_profiles import examples

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "hostile-input-token-123"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# Text as a browser or a script could send it: any code point (lone surrogates included,
# sent percent-encoded), control characters, long runs.
HOSTILE = st.one_of(st.text(max_size=300), st.text(alphabet="\x00\n\t%&=/?#:\\\ud800 ",
                                                   max_size=40),
                    st.sampled_from(["", "runtime", "bus:bus", "queue:taskqueue", "-1",
                                     "NaN", "x" * 5000, "order-7", "../../etc"]))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with Incident() as incident:
        console = Console(incident.system).watch(*incident.watched())
        with TestClient(create_app(console, token=TOKEN), base_url="http://127.0.0.1",
                        raise_server_exceptions=True) as http:
            yield http


def _segment(text: str) -> str:
    """`text` as one percent-encoded path segment (a browser sends any byte that way)."""
    return "".join(f"%{b:02X}" for b in text.encode("utf-8", "surrogatepass")) or "x"


def _quoted(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=HOSTILE, status=HOSTILE, saga_id=HOSTILE)
def test_reads_answer_every_input(client: TestClient, q: str, status: str, saga_id: str) -> None:
    params = {"q": _quoted(q), "status": _quoted(status)}
    assert client.get("/fragments/sagas", params=params).status_code in (200, 400)
    assert client.get("/", params=params).status_code in (200, 400)
    path = "/sagas/" + _segment(saga_id)
    assert client.get(path).status_code in (200, 400, 404)
    letter = client.get("/dead-letter", params={"source": _quoted(q), "key": _quoted(status)})
    assert letter.status_code in (400, 404)


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=HOSTILE, key=HOSTILE, operator=HOSTILE, action=HOSTILE)
def test_actions_answer_every_input(client: TestClient, source: str, key: str, operator: str,
                                    action: str) -> None:
    body = {"source": _quoted(source), "key": _quoted(key)}
    # A header is bytes on the wire: any byte may arrive.
    headers = {**BEARER, "X-Stanchion-Operator": _quoted(operator)[:200].encode("latin-1")
               or b"x"}
    for verb in ("purge", "replay", _segment(action[:50])):
        answer = client.post(f"/dead-letters/{verb}", data=body, headers=headers)
        assert answer.status_code in (200, 400, 404, 409), answer.text
    named = client.post(f"/breakers/{_segment(key[:100])}/force_open",
                        headers={**BEARER, "X-Stanchion-Operator": "ann"})
    assert named.status_code in (400, 404), named.text
