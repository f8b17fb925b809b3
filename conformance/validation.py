"""Optional profile validation with the repository's test-side validator.

The validator lives in ``tests/support/profiles.py`` (it walks the vendored US Core
StructureDefinitions); it is used when importable: from pytest, or from the installed
command when this package sits in a checkout next to ``tests/``. Elsewhere the check
reports "skipped" rather than pretending to validate.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from conformance.context import PROFILES, Context
from conformance.result import Fail, Skip, check

MAX_ERRORS = 3
_CHECKOUT = Path(__file__).resolve().parents[1]


def _validator() -> Any:
    if (_CHECKOUT / "tests/support/profiles.py").is_file() and str(_CHECKOUT) not in sys.path:
        sys.path.append(str(_CHECKOUT))  # the console script does not put the checkout on it
    try:
        module = importlib.import_module("tests.support.profiles")
    except ImportError as exc:
        raise Skip(f"profile validator not importable ({exc}); run from a checkout") from exc
    return module.get_validator()


@check("US Core profile validation")
def profile_validation(ctx: Context) -> str:
    resources = [*ctx.patients.values(), *ctx.all_encounters(), *ctx.resolved]
    if not resources:
        raise Skip("no resources collected")
    validator = _validator()
    errors: list[str] = []
    checked = 0
    for resource in resources:
        profile = PROFILES.get(str(resource.get("resourceType")))
        if profile is None:
            continue
        checked += 1
        name = f"{resource.get('resourceType')}/{resource.get('id')}"
        errors += [f"{name}: {e}" for e in validator.validate(resource, profile)]
    if errors:
        raise Fail(f"{len(errors)} errors, first: " + "; ".join(errors[:MAX_ERRORS]))
    return f"{checked} resources valid against US Core 6.1.0"
