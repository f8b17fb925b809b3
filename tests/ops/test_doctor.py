"""``athena-facade doctor``: green against the embedded stack, names what failed otherwise."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port
from tests.ops.support import cli

CHECKS = [
    "configuration",
    "credentials",
    "data directory",
    "athena reachable",
    "token",
    "/v1 API",
    "FHIR API",
    "quota",
    "CapabilityStatement",
]


def _lines(stdout: str) -> dict[str, str]:
    """check name -> its state (``[ok  ] name  detail``)."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("["):
            state, _, rest = line[1:].partition("]")
            name = next(n for n in CHECKS if rest.strip().startswith(n))
            out[name] = state.strip()
    return out


def test_doctor_is_green_against_the_embedded_stack(tmp_path: Path) -> None:
    result = cli(["doctor"], tmp_path)  # embedded: starts the emulator itself
    assert result.returncode == 0, result.stdout + result.stderr
    states = _lines(result.stdout)
    assert states == dict.fromkeys(CHECKS, "ok"), result.stdout
    assert "doctor: all checks passed" in result.stdout
    assert "of 500000 calls left" in result.stdout  # the emulator's daily quota headers


def test_doctor_names_an_unreachable_athena(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli(["doctor"], tmp_path, FACADE_ATHENA_BASE_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    states = _lines(result.stdout)
    assert states["configuration"] == "ok"
    assert states["athena reachable"] == "FAIL"
    assert f"{url}: ConnectError" in result.stdout
    assert {states[n] for n in CHECKS[4:]} == {"skip"}
    assert "doctor: failed: athena reachable" in result.stderr


def test_doctor_names_refused_credentials(tmp_path: Path, emulator_url: str) -> None:
    result = cli(
        ["doctor"],
        tmp_path,
        FACADE_ATHENA_BASE_URL=emulator_url,
        FACADE_ATHENA_CLIENT_ID="facade-dev",
        FACADE_ATHENA_CLIENT_SECRET="not-the-secret",
    )
    assert result.returncode == 1
    states = _lines(result.stdout)
    assert states["athena reachable"] == "ok"
    assert states["token"] == "FAIL"
    assert "athena refused the credentials" in result.stdout
    assert "not-the-secret" not in result.stdout + result.stderr
