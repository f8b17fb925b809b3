"""Bounded work per request (facade/api/limits.py), through the real stack.

Each case is an input an attacker's probe sent: it used to burn a worker's CPU for
seconds or minutes, read 20 MB into memory or end in a 500. Each now answers a clear
4xx at once. Elapsed times are only a generous sanity bound (the machine is shared);
the assertions are on status, issue code and ``expression``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from facade.api.limits import json_depth
from tests.conftest import dev_token, facade_settings, start_facade

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
DEEP = b'{"resourceType": "Appointment", "status": ' + b"[" * 1000 + b"]" * 1000 + b"}"
SANE_BOUND = 5.0  # seconds; a bound on "at once" that a noisy machine still meets


@pytest.fixture(scope="module")
def writer(facade_url: str) -> Iterator[httpx.Client]:
    """A client whose token may write (bodies reach the write routes' parsing)."""
    token = dev_token(facade_url, scope="system/*.cruds")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{facade_url}/fhir/r4", headers=headers, timeout=60) as client:
        yield client


def _issue(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["code"] == code
    return dict(issue)


def _timed(call: Any) -> httpx.Response:
    started = time.monotonic()
    response: httpx.Response = call()
    assert time.monotonic() - started < SANE_BOUND
    return response


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body without Content-Length (chunked): the limit must hold while it is read."""
    for _ in range(total // size):
        yield b"a" * size


def test_a_search_body_of_100k_repeats_is_refused_naming_the_parameter(
    fhir: httpx.Client,
) -> None:
    body = "&".join(["name=a"] * 100_000)  # 683 KiB: under the body limit
    response = _timed(lambda: fhir.post("Patient/_search", content=body, headers=FORM))
    issue = _issue(response, 400, "too-costly")
    assert issue["expression"] == ["name"]


def test_two_million_repeats_are_refused_before_the_body_is_read(fhir: httpx.Client) -> None:
    body = "&".join(["name=a"] * 2_000_000)  # 14 MB, with its Content-Length
    response = _timed(lambda: fhir.post("Patient/_search", content=body, headers=FORM))
    _issue(response, 413, "too-long")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "Patient/_search", FORM),
        ("POST", "Appointment", FHIR_JSON),
        ("PUT", "Appointment/a-195900.Appointment-1", FHIR_JSON),
    ],
)
def test_a_20mb_body_is_refused_while_it_arrives(
    writer: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    response = _timed(
        lambda: writer.request(method, path, content=_chunks(20 * 1024 * 1024), headers=headers)
    )
    _issue(response, 413, "too-long")


def test_oauth_endpoints_refuse_large_bodies_with_an_oauth_error(facade_url: str) -> None:
    for content in (b"a" * (20 * 1024 * 1024), _chunks(20 * 1024 * 1024)):
        response = _timed(
            lambda content=content: httpx.post(
                f"{facade_url}/auth/token", content=content, headers=FORM, timeout=60
            )
        )
        assert response.status_code == 413
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "Appointment", "application/fhir+json"),
        ("PUT", "Appointment/a-195900.Appointment-1", "application/fhir+json"),
        ("PATCH", "Appointment/a-195900.Appointment-1", "application/json-patch+json"),
        ("POST", "Appointment/$book", "application/fhir+json"),
        ("POST", "Appointment/$find?start=2026-01-01&end=2026-01-02", "application/fhir+json"),
    ],
)
def test_json_nested_1000_deep_is_a_400_on_every_fhir_write(
    writer: httpx.Client, method: str, path: str, content_type: str
) -> None:
    response = _timed(
        lambda: writer.request(method, path, content=DEEP, headers={"Content-Type": content_type})
    )
    _issue(response, 400, "too-costly")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/auth/register", "application/json"),
        ("/auth/register", "text/plain"),  # parsed as JSON whatever its type
        ("/auth/launch", "application/json"),
    ],
)
def test_json_nested_1000_deep_is_a_400_on_auth_routes(
    facade_url: str, path: str, content_type: str
) -> None:
    response = _timed(
        lambda: httpx.post(
            f"{facade_url}{path}", content=DEEP, headers={"Content-Type": content_type}
        )
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_value_longer_than_the_limit_is_refused_naming_the_parameter(
    fhir: httpx.Client,
) -> None:
    body = urlencode({"name": "a" * 70_000})  # used to reach athena's URL and fail there (500)
    response = _timed(lambda: fhir.post("Patient/_search", content=body, headers=FORM))
    issue = _issue(response, 400, "too-costly")
    assert issue["expression"] == ["name"]


def test_more_parameters_than_the_limit_are_refused_naming_the_first_too_many(
    fhir: httpx.Client,
) -> None:
    params = [(f"p{i}", "1") for i in range(101)]
    issue = _issue(fhir.get("Patient", params=[("name", "a"), *params]), 400, "too-costly")
    assert issue["expression"] == ["p99"]  # the 101st parameter


def test_query_and_form_of_post_search_count_together(fhir: httpx.Client) -> None:
    query = "&".join(["name=a"] * 15)
    body = "&".join(["name=b"] * 15)
    response = fhir.post(f"Patient/_search?{query}", content=body, headers=FORM)
    assert _issue(response, 400, "too-costly")["expression"] == ["name"]


def test_or_values_and_repeats_count_as_values_of_one_parameter(fhir: httpx.Client) -> None:
    statuses = ",".join(["finished"] * 21)
    response = fhir.get("Encounter", params={"patient": "a-195900.E-60178", "status": statuses})
    assert _issue(response, 400, "too-costly")["expression"] == ["status"]
    repeated = [("_id", f"a-195900.E-{60178 + i}") for i in range(21)]
    assert _issue(fhir.get("Patient", params=repeated), 400, "too-costly")["expression"] == ["_id"]


def test_within_the_limits_searches_answer_as_before(fhir: httpx.Client) -> None:
    ids = ",".join(f"a-195900.E-{60178 + i}" for i in range(7))
    response = fhir.get("Patient", params={"_id": ids, "_count": "20"})
    assert response.status_code == 200
    assert len(response.json()["entry"]) == 7
    escaped = "a\\,b,c"  # an escaped comma does not separate values
    assert fhir.get("Patient", params={"name": ",".join([escaped] * 10)}).status_code == 200


def test_if_none_exist_is_held_to_the_same_limits(writer: httpx.Client) -> None:
    condition = "&".join(f"_id=a-195900.Appointment-{i}" for i in range(21))
    response = writer.post(
        "Appointment",
        content=b'{"resourceType": "Appointment"}',
        headers={**FHIR_JSON, "If-None-Exist": condition},
    )
    assert _issue(response, 400, "too-costly")["expression"] == ["_id"]


@pytest.fixture(scope="module")
def short_deadline_url(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings = facade_settings(
        emulator_url, tmp_path_factory.mktemp("deadline"), request_deadline_seconds=1.0
    )
    server = start_facade(settings)
    yield settings.base_url
    server.stop()


def test_a_body_slower_than_the_request_deadline_is_a_408(short_deadline_url: str) -> None:
    url = urlsplit(short_deadline_url)
    with socket.create_connection((url.hostname, url.port), timeout=SANE_BOUND) as sock:
        head = (
            "POST /fhir/r4/Patient/_search HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname="
        )
        sock.sendall(head.encode())  # ... and the other 95 bytes never come
        started = time.monotonic()
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"timeout"' in answer
    assert time.monotonic() - started < SANE_BOUND


def test_json_depth_is_measured_outside_strings_and_for_any_json_encoding() -> None:
    assert json_depth(b'{"a": [1, {"b": "]]]"}], "c": []}') == 3
    assert json_depth(b'["\\"[[[", [[]]]') == 3  # an escaped quote does not end the string
    assert json_depth(b'["unterminated [[[[') == 1  # an open string runs to the end
    assert json_depth(b"[" * 1000) == 1000  # invalid JSON: a parser descends all the same
    assert json_depth(("[" * 70 + "]" * 70).encode("utf-16")) == 70
    assert json_depth(b"name=a&x=1") == 0


def test_values_within_the_limits_that_overflow_athenas_url_are_a_400(fhir: httpx.Client) -> None:
    # Each value is under the length limit, but percent-encoded UTF-8 takes 9 characters
    # per character: together they pass httpx's URL limit on the way to athena (was a 500).
    body = urlencode({"name": "\u4e2d" * 4000, "gender": "\u4e2d" * 4000})
    issue = _issue(fhir.post("Patient/_search", content=body, headers=FORM), 400, "invalid")
    assert "too long to forward" in issue["diagnostics"]


def test_type_lists_are_bounded_by_the_resource_types_not_the_or_limit() -> None:
    """``_type`` names resource types (a warehouse sync names all 40 the server exports);
    every other parameter keeps the OR limit, and ``_type`` has a bound of its own."""
    from facade.api.limits import TYPE_LIST_VALUES, Limits, check_parameters
    from facade.errors import TooCostly

    limits = Limits(body_bytes=1, parameters=100, values=20, length=8192, json_depth=1)
    every_type = ",".join(f"Type{i}" for i in range(40)).encode()
    check_parameters([b"_type=" + every_type], limits, or_lists=True)
    with pytest.raises(TooCostly, match="Parameter code has more than 20 values"):
        check_parameters([b"code=" + every_type], limits, or_lists=True)
    too_many = ",".join(f"T{i}" for i in range(TYPE_LIST_VALUES + 1)).encode()
    with pytest.raises(TooCostly, match="Parameter _type has more than"):
        check_parameters([b"_type=" + too_many], limits, or_lists=True)
