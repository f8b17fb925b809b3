"""Signed paging cursors and query fingerprints (FHIR R4 search #count, http.html#paging)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facade.errors import InvalidCursor
from facade.search import INVALID_CURSOR, CursorCodec, parse_query, query_fingerprint

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.0
PAYLOAD: dict[str, Any] = {"q": "3f2a", "route": "patient.search", "pos": [20, "E-60178"]}


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET, ttl_seconds=600)


def test_round_trip(codec: CursorCodec) -> None:
    token = codec.encode(PAYLOAD, now=NOW)
    assert codec.decode(token, now=NOW + 1) == PAYLOAD


def test_format(codec: CursorCodec) -> None:
    token = codec.encode(PAYLOAD, now=NOW)
    body, sig = token.split(".")
    assert "=" not in token
    assert len(sig) == 43  # 32 bytes, unpadded base64url
    data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert data == {**PAYLOAD, "iat": int(NOW)}


def test_deterministic(codec: CursorCodec) -> None:
    assert codec.encode(PAYLOAD, now=NOW) == codec.encode(PAYLOAD, now=NOW)


def test_expiry(codec: CursorCodec) -> None:
    token = codec.encode(PAYLOAD, now=NOW)
    assert codec.decode(token, now=NOW + 600) == PAYLOAD
    with pytest.raises(InvalidCursor) as info:
        codec.decode(token, now=NOW + 601)
    assert info.value.diagnostics == INVALID_CURSOR


def test_issued_in_the_future(codec: CursorCodec) -> None:
    token = codec.encode(PAYLOAD, now=NOW + 30)
    assert codec.decode(token, now=NOW) == PAYLOAD  # within clock skew
    with pytest.raises(InvalidCursor):
        codec.decode(codec.encode(PAYLOAD, now=NOW + 3600), now=NOW)


def test_wrong_secret(codec: CursorCodec) -> None:
    token = CursorCodec(b"another secret of enough length!").encode(PAYLOAD, now=NOW)
    with pytest.raises(InvalidCursor):
        codec.decode(token, now=NOW)


def test_tampered_body(codec: CursorCodec) -> None:
    _, sig = codec.encode(PAYLOAD, now=NOW).split(".")
    forged = base64.urlsafe_b64encode(
        orjson.dumps({**PAYLOAD, "pos": [0, ""], "iat": int(NOW)})
    ).rstrip(b"=")
    with pytest.raises(InvalidCursor):
        codec.decode(f"{forged.decode()}.{sig}", now=NOW)


def test_forged_with_the_right_secret_but_bad_payload(codec: CursorCodec) -> None:
    """Even a correctly signed token must carry a JSON object with an integer iat."""
    import hashlib
    import hmac

    def sign(data: bytes) -> str:
        body = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        mac = hmac.new(SECRET, body.encode(), hashlib.sha256).digest()
        return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    for data in [b"[1,2]", b"not json", b'{"a":1}', b'{"iat":"x"}', b'{"iat":true}']:
        with pytest.raises(InvalidCursor):
            codec.decode(sign(data), now=NOW)
    assert codec.decode(sign(b'{"iat":%d,"a":1}' % int(NOW)), now=NOW) == {"a": 1}


@given(st.integers(0, 200), st.sampled_from("ABCabc0189-_."))
def test_any_single_character_change_is_rejected(position: int, replacement: str) -> None:
    codec = CursorCodec(SECRET)
    token = codec.encode(PAYLOAD, now=NOW)
    i = position % len(token)
    if token[i] == replacement:
        return
    with pytest.raises(InvalidCursor):
        codec.decode(token[:i] + replacement + token[i + 1 :], now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "abc.def", "ab+c." + "A" * 43, "é." + "A" * 43],
)
def test_malformed(codec: CursorCodec, token: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(token, now=NOW)


def test_reserved_key_and_bad_config() -> None:
    with pytest.raises(ValueError):
        CursorCodec(SECRET).encode({"iat": 1}, now=NOW)
    with pytest.raises(ValueError):
        CursorCodec(b"")
    with pytest.raises(ValueError):
        CursorCodec(SECRET, ttl_seconds=0)


# --- query fingerprint ----------------------------------------------------------


def test_fingerprint_ignores_cursor_only() -> None:
    req = parse_query("Encounter", [("patient", "123"), ("date", "ge2019"), ("_count", "10")])
    fp = query_fingerprint(req)
    assert fp == query_fingerprint(replace(req, cursor="anything"))
    assert len(fp) == 24
    assert fp != query_fingerprint(replace(req, count=20))
    assert fp != query_fingerprint(replace(req, resource_type="Coverage"))
    assert fp != query_fingerprint(
        parse_query("Encounter", [("patient", "124"), ("date", "ge2019"), ("_count", "10")])
    )
    assert fp != query_fingerprint(replace(req, revinclude=("Provenance:target",)))


def test_fingerprint_stable_across_get_and_post() -> None:
    items = [("patient", "123"), ("_revinclude", "Provenance:target")]
    assert query_fingerprint(parse_query("Encounter", items)) == query_fingerprint(
        parse_query("Encounter", [*items, ("_format", "json")])
    )
    # empty parameters are ignored, so they do not change the fingerprint
    assert query_fingerprint(parse_query("Patient", [("_id", "x")])) == query_fingerprint(
        parse_query("Patient", [("_id", "x"), ("_id", "")])
    )
    # a known value pins the canonical form (live cursors depend on it): change deliberately
    assert query_fingerprint(parse_query("Patient", [("_id", "x")])) == "ebad59fab279250069c2f927"
