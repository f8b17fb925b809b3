"""Two facade hosts behind HAProxy, sharing one PostgreSQL and one Redis: every property
that must hold across hosts (README "Scale-out"), asserted at the hosts and at athena.

Requests go to one host or the other directly (so a test knows which host issued what)
or through the balancer (the load tests). The faults (a host killed, Redis stopped,
PostgreSQL stopped) come last in this module and restore what they take away.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from facade.cluster.topology import Cluster
from tests.api.scheduling.ledger_support import BOOK, Slots, booked_for, create, local
from tests.api.scheduling.support import FHIR_JSON, PID
from tests.auth.smart_support import PUBLIC, exchange, run_flow
from tests.scale.conftest import BURST, RATE, fhir, token

SLOTS = Slots()
PATIENT_READ = "Patient/a-195900.E-60178"


SEEN: list[int] = []  # every status any test here got: never a 500


def _keep(response: httpx.Response) -> httpx.Response:
    SEEN.append(response.status_code)
    return response


def _until(check: Any, seconds: float = 30.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


# -- what one host issues, the other honours -------------------------------------------


def test_a_token_and_a_paging_link_from_one_host_work_on_the_other(cluster: Cluster) -> None:
    one, two = cluster.members
    access = token(one.url)
    with fhir(one.url, access) as first, fhir(two.url, access) as second:
        day = "2025-07-02"
        page = _keep(
            first.get(
                "Slot",
                params=[
                    ("start", f"ge{day}"),
                    ("start", f"lt{day}T23:59:59-05:00"),
                    ("_count", "2"),
                ],
            )
        )
        assert page.status_code == 200, page.text
        links = {link["relation"]: link["url"] for link in page.json()["link"]}
        assert "next" in links
        # the link names the balancer; send it to the other host itself
        following = links["next"].replace(cluster.url, two.url)
        assert following.startswith(two.url)
        nxt = _keep(second.get(following))
        assert nxt.status_code == 200, nxt.text
        ids = {e["resource"]["id"] for e in page.json()["entry"]}
        assert ids and not ids & {e["resource"]["id"] for e in nxt.json().get("entry", [])}
        assert _keep(second.get(PATIENT_READ)).status_code == 200


def test_an_authorization_code_from_one_host_is_exchanged_and_refreshed_on_the_other(
    cluster: Cluster,
) -> None:
    one, two = cluster.members
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        flow = run_flow(http, one.url, extra={"aud": f"{cluster.url}/fhir/r4"})
        exchanged = _keep(exchange(http, two.url, flow))
        assert exchanged.status_code == 200, exchanged.text
        body = exchanged.json()
        refreshed = _keep(
            http.post(
                f"{one.url}/auth/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": body["refresh_token"],
                    "client_id": PUBLIC,
                },
            )
        )
        assert refreshed.status_code == 200, refreshed.text
        # the id_token's key is published by both hosts (one shared key ring)
        kid = _header_kid(body["id_token"])
        for host in (one, two):
            keys = httpx.get(f"{host.url}/auth/jwks").json()["keys"]
            assert kid in {k["kid"] for k in keys}
        # the new access token works on the host that did not issue it
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        read = _keep(httpx.get(f"{two.url}/fhir/r4/Patient/{body['patient']}", headers=headers))
        assert read.status_code == 200, read.text
        # single use across hosts: the code is spent for the first host too, and its replay
        # revokes the grant (RFC 6749 §4.1.2), which the other host then honours
        assert _keep(exchange(http, one.url, flow)).status_code == 400
        url = f"{two.url}/fhir/r4/Patient/{body['patient']}"
        _until(lambda: _keep(httpx.get(url, headers=headers)).status_code == 401, 5.0)


def _header_kid(compact: str) -> str:
    import base64
    import json

    head = compact.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


def test_a_revocation_on_one_host_is_effective_on_the_other_within_a_second(
    cluster: Cluster,
) -> None:
    one, two = cluster.members
    access = token(one.url, "system/*.rs")
    with fhir(two.url, access) as second:
        assert _keep(second.get(PATIENT_READ)).status_code == 200  # the other host knows it
        revoked = httpx.post(
            f"{one.url}/auth/revoke",
            data={"token": access},
            auth=("local-dev", "local-dev-secret"),
        )
        assert revoked.status_code == 200, revoked.text
        bound = time.monotonic() + 1.0
        while True:  # poll the other host until the bound
            answer = _keep(second.get(PATIENT_READ))
            if answer.status_code == 401:
                break
            assert answer.status_code == 200
            assert time.monotonic() < bound, "the revoked token still works on the other host"
            time.sleep(0.02)
        assert time.monotonic() <= bound + 0.5  # the 401 arrived within the bound
        # and stays refused on both
        with fhir(one.url, access) as first:
            assert _keep(first.get(PATIENT_READ)).status_code == 401


def test_the_same_idempotency_key_sent_to_both_hosts_at_once_books_once(
    cluster: Cluster, clinic: tuple[str, Any]
) -> None:
    one, two = cluster.members
    world = clinic[1]
    access = token(one.url)
    with fhir(one.url, access) as first, fhir(two.url, access) as second:
        slot = SLOTS.take(first)
        before = world.calls("PUT", BOOK)
        key = f"both-hosts-{uuid.uuid4()}"
        barrier = threading.Barrier(2)

        def send(client: httpx.Client) -> httpx.Response:
            barrier.wait()
            return _keep(create(client, slot, key))

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(send, [first, second]))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert booked_for(world, slot)
    assert world.calls("PUT", BOOK) - before == 1  # one booking reached athena


def _api_calls(world: Any) -> int:
    """athena API calls so far (not token requests, not the change feeds' polls)."""
    with world.lock:
        return sum(
            n
            for (_method, path), n in world.call_counts.items()
            if "oauth2" not in path and not path.endswith("/changed")
        )


def test_athena_sees_no_more_than_the_configured_rate_in_total(
    cluster: Cluster, clinic: tuple[str, Any]
) -> None:
    world = clinic[1]
    one, two = cluster.members
    access = token(one.url, "system/*.rs")
    clients = [fhir(one.url, access), fhir(two.url, access)]
    sent = 120

    def search(i: int) -> int:
        # a search always goes to athena (no cache); distinct ones, so no single-flight
        day = f"2025-07-{1 + i % 28:02d}"
        response = clients[i % 2].get(
            "Slot", params=[("start", f"ge{day}"), ("start", f"lt{day}T12:00:00-05:00")]
        )
        return _keep(response).status_code

    start_calls = _api_calls(world)
    started = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(search, range(sent)))
    elapsed = time.monotonic() - started
    made = _api_calls(world) - start_calls
    for client in clients:
        client.close()
    assert set(statuses) <= {200, 429}, statuses
    allowed = BURST + RATE * elapsed + 3  # +3: reservations made just before the window
    assert made <= allowed, (made, elapsed)
    # and the load kept the budget busy (24 requests at once, each far faster than the
    # budget's pace): the budget, not the load, set the pace. Two hosts each on a budget
    # of their own would have let through up to twice the bound above.
    assert made >= 0.5 * RATE * elapsed, (made, elapsed)


def test_a_write_through_one_host_is_never_answered_stale_by_the_other(
    cluster: Cluster, clinic: tuple[str, Any]
) -> None:
    one, two = cluster.members
    access = token(one.url)
    with fhir(one.url, access) as first, fhir(two.url, access) as second:
        slot = SLOTS.take(first)
        created = _keep(create(first, slot, f"stale-{uuid.uuid4()}"))
        assert created.status_code == 201, created.text
        appointment = created.json()
        url = f"Appointment/{appointment['id']}"
        assert _keep(second.get(url)).json()["status"] == "booked"
        cached = _keep(second.get(url))
        assert 'cache;desc="hit"' in cached.headers["server-timing"]  # B holds a copy
        cancelled = _keep(
            first.put(url, json={**appointment, "status": "cancelled"}, headers=FHIR_JSON)
        )
        assert cancelled.status_code == 200, cancelled.text
        after = _keep(second.get(url))  # at once, no waiting: never the old copy
        assert after.status_code == 200 and after.json()["status"] == "cancelled"
        record = clinic[1].schedule.appointment(PID, local(slot))
        assert record.status == "x"


def test_no_500_so_far() -> None:
    assert SEEN and not [s for s in SEEN if s >= 500 and s != 503], SEEN


@pytest.fixture(autouse=True, scope="module")
def _no_500_at_the_end() -> Any:
    yield
    assert not [s for s in SEEN if s == 500], SEEN
