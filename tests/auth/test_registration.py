"""RFC 7591 dynamic registration (``POST /auth/register``) and the clients file.

Concurrent registrations across worker processes: ``test_workers.py``."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import httpx
import pytest

from facade.auth.clients import Client
from facade.auth.factory import clients_file
from facade.cli import main
from facade.settings import Settings
from tests.auth import races
from tests.auth.smart_support import ASSERTION_TYPE, Keys, assertion


def test_clients_file_writes_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    """``clients add`` racing in four processes: every client lands in clients.json."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=races.add_clients, args=(str(tmp_path), f"p{n}", 15, barrier))
        for n in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * 4
    stored = json.loads((tmp_path / "clients.json").read_text())["clients"]
    assert sorted(c["client_id"] for c in stored) == sorted(
        f"p{n}-{i}" for n in range(4) for i in range(15)
    )
    assert (tmp_path / "clients.json").stat().st_mode & 0o077 == 0
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_a_broken_hand_edit_keeps_the_last_good_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = clients_file(Settings(data_dir=tmp_path))
    registry.add(Client(client_id="app", kind="public", redirect_uris=["https://a.example/cb"]))
    assert registry.get("app") is not None
    (tmp_path / "clients.json").write_text('{"clients": [ oops')
    assert registry.get("app") is not None  # still served, and the operator is told
    assert "not valid" in caplog.text
    (tmp_path / "clients.json").write_text('{"clients": []}')
    assert registry.get("app") is None


def test_cli_lists_and_removes_dynamic_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = clients_file(Settings(data_dir=tmp_path))
    registry.register(
        Client(client_id="dyn-x", kind="public", redirect_uris=["https://a.example/cb"])
    )
    found = registry.get("dyn-x")
    assert found is not None and found.dynamic and not found.trusted
    assert not (tmp_path / "clients.json").exists()  # registrations never touch the file
    monkeypatch.setenv("FACADE_DATA_DIR", str(tmp_path))
    assert main(["clients", "list"]) == 0
    assert "dyn-x\tpublic" in capsys.readouterr().out
    assert main(["clients", "remove", "dyn-x"]) == 0
    assert registry.get("dyn-x") is None
    assert main(["clients", "remove", "dyn-x"]) == 1
    with pytest.raises(ValueError, match="built-in"):
        registry.add(Client(client_id="local-dev", kind="public"))


def _post(base: str, metadata: object) -> httpx.Response:
    return httpx.post(f"{base}/auth/register", json=metadata, timeout=30)


GOOD = {"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({**GOOD, "redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": ["https://u:p@app.example/cb"]}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": ["https:///cb"]}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": "https://app.example/cb"}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": [["https://app.example/cb"]]}, "invalid_redirect_uri"),
        ({**GOOD, "redirect_uris": ["https://app.example/" + "x" * 3000]}, "invalid_redirect_uri"),
        ({**GOOD, "token_endpoint_auth_method": ["none"]}, "invalid_client_metadata"),
        ({**GOOD, "token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({**GOOD, "client_name": {"x": 1}}, "invalid_client_metadata"),
        ({**GOOD, "scope": 5}, "invalid_client_metadata"),
        ({**GOOD, "scope": ["openid"]}, "invalid_client_metadata"),
        (
            {**GOOD, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}},
            "invalid_client_metadata",
        ),
        (
            {**GOOD, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": "x"}},
            "invalid_client_metadata",
        ),
        (
            {**GOOD, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"nokeys": 1}},
            "invalid_client_metadata",
        ),
        (
            {
                **GOOD,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "nope"}]},
            },
            "invalid_client_metadata",
        ),
        (
            {
                **GOOD,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
            },
            "invalid_client_metadata",
        ),
        (
            {
                **GOOD,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "EC"}]},
                "jwks_uri": "https://keys.example.org/jwks.json",
            },
            "invalid_client_metadata",
        ),
    ],
)
def test_hostile_registration_metadata_is_a_clear_400(
    smart_url: str, metadata: dict[str, object], error: str
) -> None:
    response = _post(smart_url, metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_a_private_key_is_never_accepted_as_a_clients_jwks(
    smart_url: str, client_keys: Keys
) -> None:
    for key in (client_keys.ec, client_keys.rsa):
        metadata = {
            **GOOD,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.as_dict(private=True)]},
        }
        response = _post(smart_url, metadata)
        assert response.status_code == 400, response.text
        assert "private" in response.json()["error_description"]


def test_an_unusable_stored_jwks_is_invalid_client_not_a_500(
    smart_url: str, smart_data_dir: Path, client_keys: Keys
) -> None:
    """An operator's clients.json entry with a broken inline JWKS."""
    registry = clients_file(Settings(data_dir=smart_data_dir))
    for n, jwks in enumerate(({"keys": []}, {"keys": [{"kty": "nope"}]}, {"nokeys": 1})):
        client_id = f"broken-jwks-{n}"
        registry.add(
            Client(
                client_id=client_id,
                kind="confidential-asymmetric",
                jwks=jwks,
                scope="system/*.rs",
                grant_types=["client_credentials"],
            )
        )
        token_url = f"{smart_url}/auth/token"
        response = httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(client_id, client_keys.ec, token_url),
            },
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
