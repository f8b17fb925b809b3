"""OperationOutcome rendering (FHIR R4 §2.38 OperationOutcome)."""

from __future__ import annotations

from typing import Any

from facade.errors import FacadeError


def outcome(
    code: str,
    diagnostics: str,
    *,
    severity: str = "error",
    expression: tuple[str, ...] = (),
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_for(error: FacadeError) -> dict[str, Any]:
    return outcome(error.code, error.diagnostics, expression=error.expression)
