"""Builds ``mappings/elements.json``: per R4 resource type, its top-level elements, which are
summary elements (``_summary=true``) and which are mandatory (min >= 1), from fhir.resources R4B.

Run ``.venv/bin/python -m tests.support.element_table`` to rewrite the file;
``tests/fhir/test_subset.py`` fails when the file and fhir.resources disagree.
"""

from __future__ import annotations

import json
import pkgutil
from pathlib import Path
from typing import Any

import fhir.resources.R4B as r4b
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

PATH = Path(__file__).resolve().parents[2] / "mappings" / "elements.json"


def _entry(model: Any) -> dict[str, Any]:
    elements: dict[str, list[str]] = {}
    summary: list[str] = []
    mandatory: list[str] = []
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        key = str(field.alias)
        name = str(extra.get("one_of_many") or key)
        elements.setdefault(name, []).append(key)
        if extra.get("summary_element_property") and name not in summary:
            summary.append(name)
        required = field.is_required() or extra.get("element_required")
        if required and name not in mandatory:
            mandatory.append(name)
    return {"elements": elements, "summary": summary, "mandatory": mandatory}


def build() -> dict[str, Any]:
    table: dict[str, Any] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(r4b.__path__)):
        if module.startswith(("fhirtypes", "fhirprimitive", "fhirresource")):
            continue
        try:
            names = [n for n in dir(__import__(f"fhir.resources.R4B.{module}", fromlist=["x"]))]
        except ImportError:
            continue
        for name in names:
            try:
                model = get_fhir_model_class(name)
            except (KeyError, ValueError, AttributeError):
                continue
            if (
                isinstance(model, type)
                and issubclass(model, Resource)
                and model.__name__ == name
                and name not in ("Resource", "DomainResource")
            ):
                table[name] = _entry(model)
    return dict(sorted(table.items()))


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=None, separators=(",", ":"), sort_keys=True) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(build()), encoding="utf-8")
    print(f"wrote {PATH}")
