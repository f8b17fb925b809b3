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
import psycopg

from facade.cluster.topology import Cluster, Host
from tests.api.scheduling.ledger_support import BOOK, Slots, booked_for, create, local
from tests.api.scheduling.support import FHIR_JSON, PID
from tests.auth.smart_support import PUBLIC, exchange, run_flow
from tests.events.conftest import FAST
from tests.events.support import Receiver, events_of, subscription, wait_status
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
        # the other host holds a copy (the event engine's own invalidation of the new
        # record may come first: read until it is served from the cache)
        cached = _until(
            lambda: (r := _keep(second.get(url))).headers["server-timing"].endswith('"hit"') and r,
            10,
        )
        assert cached.json()["status"] == "booked"
        cancelled = _keep(
            first.put(url, json={**appointment, "status": "cancelled"}, headers=FHIR_JSON)
        )
        assert cancelled.status_code == 200, cancelled.text
        after = _keep(second.get(url))  # at once, no waiting: never the old copy
        assert after.status_code == 200 and after.json()["status"] == "cancelled"
        record = clinic[1].schedule.appointment(PID, local(slot))
        assert record.status == "x"


def test_identical_reads_in_flight_on_both_hosts_reach_athena_once(
    cluster: Cluster, clinic: tuple[str, Any], admin: httpx.Client
) -> None:
    world = clinic[1]
    one, two = cluster.members
    access = token(one.url, "system/*.rs")
    read = "Patient/a-195900.E-60181"  # read by no test before: in no host's cache
    rule = {"kind": "timeout", "delay_seconds": 0.6, "methods": ["GET"], "path": "E-60181$"}
    assert admin.post("faults/rules", json={**rule, "count": 1}).status_code == 201
    before = world.calls("GET", "/fhir/r4/Patient/{id}")
    try:
        with (
            fhir(one.url, access) as first,
            fhir(two.url, access) as second,
            ThreadPoolExecutor(1) as pool,
        ):
            # whichever host asks athena first, its answer is held 0.6 s: the two overlap
            slow = pool.submit(first.get, read)
            time.sleep(0.2)
            joined = _keep(second.get(read))  # the same read, on the other host
            held = _keep(slow.result(timeout=30))
    finally:
        admin.delete("faults")
    assert held.status_code == joined.status_code == 200, (held.text, joined.text)
    assert held.json() == joined.json()
    assert world.calls("GET", "/fhir/r4/Patient/{id}") - before == 1  # one call for both


# -- one change-feed poller at a time; a killed poller's successor loses nothing ---------


def _poller(cluster: Cluster) -> tuple[Any, ...] | None:
    assert cluster.postgres is not None
    with psycopg.connect(cluster.postgres.url, autocommit=True) as db:
        row: tuple[Any, ...] | None = db.execute(
            "SELECT owner, inflight_since FROM pollers WHERE practice = %s AND feed = 'appointments'",
            (PID,),
        ).fetchone()
    return row


def _host_of(cluster: Cluster, owner: str) -> Host:
    pid = int(owner.split("-", 1)[0])
    return next(h for h in cluster.members if h.proc is not None and h.proc.pid == pid)


def _restart(cluster: Cluster, host: Host) -> None:
    host.start()
    host.wait_ready()
    cluster.wait_balanced()


def test_one_feed_poller_at_a_time_and_a_killed_pollers_successor_loses_nothing(
    cluster: Cluster,
    clinic: tuple[str, Any],
    receiver: Receiver,
    admin: httpx.Client,
) -> None:
    world = clinic[1]
    one, _two = cluster.members
    access = token(one.url)
    with fhir(cluster.url, access) as balanced:
        created = _keep(
            balanced.post(
                "Subscription",
                json=subscription(receiver.base + "/cluster", "appointment-cancelled"),
                headers=FHIR_JSON,
            )
        )
        assert created.status_code == 201, created.text
        wait_status(balanced, created.json()["id"], "active")
    early, late = _booked(world, 2)
    _until(lambda: world.changes.status(PID, "appointments")[0] == "ACTIVE")

    # one poller for the whole cluster: athena is asked at the pace of one host
    polls = world.calls("GET", "/v1/{practiceid}/appointments/changed")
    started = time.monotonic()
    time.sleep(2.0)
    polls = world.calls("GET", "/v1/{practiceid}/appointments/changed") - polls
    interval = FAST["events_poll_interval_seconds"]
    practices = 2  # the default FACADE_PRACTICES: one /changed call each per cycle
    assert polls <= ((time.monotonic() - started) / interval + 1) * practices, polls

    assert admin.post(f"athena/{PID}/appointments/{early}/cancel", json={}).status_code == 200
    receiver.wait(
        "/cluster",
        lambda got: str(early) in {r.focus[0].rsplit("-", 1)[1] for r in events_of(got)},
    )

    # athena hands the next change over and marks it processed; the answer never arrives
    rule = {
        "kind": "timeout",
        "commit": True,
        "delay_seconds": 120,
        "methods": ["GET"],
        # this practice's feed only: the other practice's poll must not take the one fault
        "path": rf"/{PID}/appointments/changed$",
        "count": 1,
    }
    assert admin.post("faults/rules", json=rule).status_code == 201
    assert admin.post(f"athena/{PID}/appointments/{late}/cancel", json={}).status_code == 200
    consumed = [r for r in world.changes.rows if r.record["appointmentid"] == str(late)]
    _until(lambda: consumed and all(r.processed_at is not None for r in consumed))
    owner, _inflight = _until(lambda: (_poller(cluster) or (None, None))[1] and _poller(cluster))
    poller = _host_of(cluster, owner)
    poller.kill()  # mid-poll, SIGKILL: athena processed the change, no host stored it
    admin.delete("faults")
    try:
        # the other host takes the feed over once the lease runs out, and re-reads
        receiver.wait(
            "/cluster",
            lambda got: str(late) in {r.focus[0].rsplit("-", 1)[1] for r in events_of(got)},
            seconds=45,
        )
        time.sleep(1.5)  # several poll intervals: nothing else arrives
        got = events_of(receiver.at("/cluster"))
        focuses = sorted(r.focus[0].rsplit("-", 1)[1] for r in got)
        # each exactly once (earlier tests' own cancels may be reported too: athena's feed
        # hands them over after the Subscription began)
        assert focuses.count(str(early)) == 1 and focuses.count(str(late)) == 1, focuses
        successor = _poller(cluster)
        assert successor is not None and successor[0] != owner
    finally:
        _restart(cluster, poller)


def _booked(world: Any, count: int) -> list[int]:
    from datetime import timedelta

    found = [
        r.appointmentid
        for r in world.schedule.all_appointments(PID)
        if r.status == "f" and r.patientid and r.date > world.today + timedelta(days=3)
    ]
    assert len(found) >= count
    return found[:count]


# -- faults -------------------------------------------------------------------------------


def _write_until_answered(client: httpx.Client, slot: Any, key: str) -> httpx.Response:
    """A client that retries its keyed write on a failure the balancer passes on."""
    for _ in range(120):
        try:
            response = create(client, slot, key)
        except httpx.TransportError:
            time.sleep(0.25)
            continue
        SEEN.append(response.status_code)
        if response.status_code in (502, 503, 504, 409, 429):
            time.sleep(0.25)
            continue
        return response
    raise AssertionError("no answer")


def test_a_host_killed_during_keyed_writes_leaves_every_write_applied_once(
    cluster: Cluster, clinic: tuple[str, Any]
) -> None:
    world = clinic[1]
    victim = cluster.members[0]
    access = token(cluster.url)
    with fhir(cluster.url, access) as balanced:
        slots = [SLOTS.take(balanced) for _ in range(12)]
    before = world.calls("PUT", BOOK)
    done = threading.Semaphore(0)

    def write(slot: Any) -> httpx.Response:
        with fhir(cluster.url, access) as client:
            answer = _write_until_answered(client, slot, f"killed-{slot['id']}")
        done.release()
        return answer

    try:
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(write, slot) for slot in slots]
            for _ in range(3):
                done.acquire(timeout=60)
            victim.kill()  # mid-load: some writes are in flight on it
            answers = [f.result(timeout=120) for f in futures]
    finally:
        _restart(cluster, victim)
    assert [a.status_code for a in answers] == [201] * len(slots), [a.text for a in answers]
    assert all(booked_for(world, slot) for slot in slots)
    assert world.calls("PUT", BOOK) - before == len(slots)  # each booking reached athena once


def test_redis_down_keeps_serving_without_a_shared_cache_and_recovers(cluster: Cluster) -> None:
    assert cluster.redis_server is not None
    one, two = cluster.members
    access = token(one.url)
    cluster.redis_server.stop()
    try:
        for host in (one, two):
            with fhir(host.url, access) as client:
                first = _keep(client.get(PATIENT_READ))
                again = _keep(client.get(PATIENT_READ))
                assert first.status_code == again.status_code == 200, again.text
                assert 'cache;desc="miss"' in again.headers["server-timing"]  # no cache
            ready = httpx.get(f"{host.url}/readyz").json()
            assert ready["status"] == "degraded" and ready["redis"] == "error"
        with fhir(cluster.url, access) as balanced:
            slot = SLOTS.take(balanced)
            written = _keep(create(balanced, slot, f"no-redis-{uuid.uuid4()}"))
            assert written.status_code == 201, written.text
    finally:
        cluster.redis_server.start()
    for host in (one, two):
        _until(lambda h=host: httpx.get(f"{h.url}/readyz").json().get("redis") == "ok", 30)
        with fhir(host.url, access) as client:
            _until(
                lambda c=client: (
                    'cache;desc="hit"' in _keep(c.get(PATIENT_READ)).headers["server-timing"]
                ),
                10,
            )


def test_postgres_down_refuses_writes_and_sign_ins_with_retry_after_and_keeps_reading(
    cluster: Cluster,
) -> None:
    assert cluster.postgres is not None
    one, _two = cluster.members
    access = token(one.url)
    with fhir(one.url, access) as client:
        slot = SLOTS.take(client)
        assert _keep(client.get(PATIENT_READ)).status_code == 200  # cached from here
        cluster.postgres.stop()
        try:
            cached = _keep(client.get(PATIENT_READ))
            assert (
                cached.status_code == 200 and 'cache;desc="hit"' in cached.headers["server-timing"]
            )
            upstream = _keep(client.get("Patient/a-195900.E-60179"))
            assert upstream.status_code == 200, upstream.text
            write = _keep(create(client, slot, f"no-db-{uuid.uuid4()}"))
            assert write.status_code == 503 and int(write.headers["retry-after"]) >= 1, write.text
            assert write.json()["resourceType"] == "OperationOutcome"
            sign_in = _keep(
                httpx.post(
                    f"{one.url}/auth/token",
                    data={"grant_type": "client_credentials", "scope": "system/*.rs"},
                    auth=("local-dev", "local-dev-secret"),
                )
            )
            # a built-in backend client's token needs no database (no grant: it is checked
            # by its signature and expiry), so it is still issued
            assert sign_in.status_code == 200, sign_in.text
            with httpx.Client(timeout=30, follow_redirects=False) as http:
                steps = _login_attempt(http, one.url, f"{cluster.url}/fhir/r4")
            assert steps.status_code == 503 and "retry-after" in steps.headers, steps.text
            ready = httpx.get(f"{one.url}/readyz")
            assert ready.status_code == 200 and ready.json()["database"] == "error"
        finally:
            cluster.postgres.start()
        key = f"db-back-{uuid.uuid4()}"
        answer = _until(lambda: _keep(create(client, slot, key)).status_code == 201 or None, 30)
        assert answer


def _login_attempt(http: httpx.Client, base: str, aud: str) -> httpx.Response:
    from tests.auth.smart_support import REDIRECT, session_of, verifier_pair

    _verifier, challenge = verifier_pair()
    page = http.get(
        f"{base}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": PUBLIC,
            "redirect_uri": REDIRECT,
            "scope": "openid patient/*.rs",
            "state": "s",
            "aud": aud,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200, page.text
    return _keep(
        http.post(
            f"{base}/auth/login",
            data={"session": session_of(page.text), "username": "patient.demo", "password": "x"},
        )
    )


def test_no_500_anywhere() -> None:
    """Every answer any test here got, from a host or the balancer: never a 500 (the
    balancer's 502s for requests in flight on the killed host are retried by the client)."""
    assert SEEN and 500 not in SEEN, SEEN
