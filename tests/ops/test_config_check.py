"""Configuration is validated at start: every problem listed at once, in plain words."""

from __future__ import annotations

from pathlib import Path

from tests.ops.support import cli


def _problems(stderr: str) -> list[str]:
    return [line[4:] for line in stderr.splitlines() if line.startswith("  - ")]


def test_preview_without_credentials_lists_every_problem_without_a_traceback(
    tmp_path: Path,
) -> None:
    result = cli(["serve"], tmp_path, FACADE_ENVIRONMENT="preview")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    problems = _problems(result.stderr)
    assert len(problems) == 3, result.stderr
    assert any(
        p.startswith("FACADE_DEV_CLIENT_SECRET is still the local-dev default") for p in problems
    )
    assert any("FACADE_DEMO_USERS=false" in p for p in problems)
    assert any(
        "FACADE_ATHENA_CLIENT_ID and FACADE_ATHENA_CLIENT_SECRET are required in preview" in p
        for p in problems
    )
    assert "the configuration has 3 problems" in result.stderr


def test_bad_values_and_cross_setting_problems_are_all_reported_at_once(tmp_path: Path) -> None:
    result = cli(
        ["doctor"],
        tmp_path,
        FACADE_ENVIRONMENT="production",
        FACADE_PORT="eighty",
        FACADE_WORKERS="0",
        FACADE_UPSTREAM_READ_TIMEOUT="soon",
        FACADE_ATHENA_BASE_URL="api.platform.athenahealth.com",  # no scheme
        FACADE_PUBLIC_BASE_URL="https://",  # no host
        FACADE_PRACTICES="195900,195901",  # not JSON
        FACADE_SERVER="gunicorn",
        FACADE_CACHE_ENABLED="perhaps",
        FACADE_ATHENA_CLIENT_ID="prod-client",
        FACADE_ATHENA_CLIENT_SECRET="a-very-secret-value",
        FACADE_DEV_CLIENT_SECRET="another-secret-value",
        FACADE_DEMO_USERS="false",
        FACADE_DEFAULT_PRACTICE="1",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    problems = _problems(result.stderr)
    expected = [
        "FACADE_PORT must be a whole number (got 'eighty')",
        "FACADE_WORKERS must be at least 1 (got '0')",
        "FACADE_UPSTREAM_READ_TIMEOUT must be a number (got 'soon')",
        "FACADE_ATHENA_BASE_URL must be an http:// or https:// URL with a host",
        "FACADE_PUBLIC_BASE_URL must be an http:// or https:// URL with a host",
        "FACADE_PRACTICES must be JSON",
        "FACADE_SERVER must be one of granian or uvicorn (got 'gunicorn')",
        "FACADE_CACHE_ENABLED must be true or false (got 'perhaps')",
        # checked once the values are valid (the practices fell back to their default)
        "FACADE_DEFAULT_PRACTICE (1) must be one of FACADE_PRACTICES (195900, 195901)",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, result.stderr)
    assert len(problems) == len(expected), result.stderr
    # secrets are never repeated back
    assert "a-very-secret-value" not in result.stderr
    assert "another-secret-value" not in result.stderr


def test_a_valid_configuration_passes(tmp_path: Path) -> None:
    result = cli(["keys", "list"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "problem" not in result.stderr
