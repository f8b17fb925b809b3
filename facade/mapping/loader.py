"""Loads and validates the mapping tables (the only I/O in ``facade.mapping``).

Tables live in the ``mappings`` data package: one YAML file per FHIR resource
type plus ``codes.yaml``, and ``elements.json`` (R4's top-level elements per type, for
``_summary`` / ``_elements``). They are read once at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from facade.fhir.subset import TypeElements
from facade.mapping.convert import Codes
from facade.mapping.table import CodeTable, Table


@dataclass(frozen=True)
class Mappings:
    tables: dict[str, Table]
    codes: Codes
    # R4 top-level elements per resource type (``_summary``, ``_elements``): elements.json
    elements: dict[str, TypeElements] = field(default_factory=dict)

    def table(self, resource_type: str) -> Table | None:
        return self.tables.get(resource_type)


def _read_yaml(item: Traversable) -> Any:
    return yaml.safe_load(item.read_text(encoding="utf-8"))


def load_mappings(root: Traversable | None = None) -> Mappings:
    root = root or resources.files("mappings")
    code_tables = {
        name: CodeTable.model_validate(body)
        for name, body in (_read_yaml(root / "codes.yaml") or {}).items()
    }
    tables: dict[str, Table] = {}
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.name.endswith(".yaml") and item.name != "codes.yaml":
            table = Table.model_validate(_read_yaml(item))
            tables[table.resource] = table
    for table in tables.values():
        for source in table.sources.values():
            for f in source.fields:
                if f.codes and f.codes not in code_tables:
                    raise ValueError(f"{table.resource}: unknown code table {f.codes}")
        steps = (
            [table.writes.create, *table.writes.update, *table.writes.steps] if table.writes else []
        )
        for step in (s for s in steps if s is not None):
            for record in step.records.values():
                if record.type is not None and record.type not in tables:
                    raise ValueError(f"{table.resource} {step.name}: unknown type {record.type}")
    elements = {
        rtype: TypeElements.load(raw)
        for rtype, raw in json.loads((root / "elements.json").read_text(encoding="utf-8")).items()
    }
    return Mappings(tables=tables, codes=Codes(code_tables), elements=elements)
