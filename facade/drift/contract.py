"""The recorded contracts (``contracts/athena.json``): built from the tables and answers.

Per route: who uses it, where its records are, each field the tables read with the JSON
types athena answered and whether every record carried it (``required``; ``types: []``:
read by a table but never seen in the recording), the fields athena answered that no
table reads (``others``, so a new field shows as added), and the form fields written.
Then the error shapes per surface and status, and what the routes need of athena's FHIR
CapabilityStatement (types, interactions, search parameters) with its supported profiles.

``athena-facade drift --record`` writes it (from the embedded emulator by default);
``tests/ops/test_contracts.py`` keeps it current with the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from facade.drift.derive import Needs
from facade.drift.probe import Observations
from facade.drift.shapes import error_shape, json_type, records_of

Json = dict[str, Any]
CONTRACT_FILE = "athena.json"


@dataclass
class FieldStats:
    types: set[str] = field(default_factory=set)
    present: int = 0


@dataclass
class RouteStats:
    records: int = 0
    answers: int = 0
    fields: dict[str, FieldStats] = field(default_factory=dict)


def route_stats(obs: Observations, key: str, where: str) -> RouteStats:
    stats = RouteStats()
    for answer in obs.answers.get(key, []):
        if answer.status != 200:
            continue
        stats.answers += 1
        for record in records_of(answer.body, where):
            stats.records += 1
            for name, value in record.items():
                entry = stats.fields.setdefault(name, FieldStats())
                entry.present += 1
                entry.types.add(json_type(value))
    return stats


def capability_view(statement: Any) -> Json:
    """What the drift check compares of a CapabilityStatement."""
    view: Json = {"fhirVersion": None, "types": {}}
    if not isinstance(statement, dict):
        return view
    view["fhirVersion"] = statement.get("fhirVersion")
    for rest in statement.get("rest", []) or []:
        for entry in (rest or {}).get("resource", []) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                continue
            view["types"][entry["type"]] = {
                "interactions": sorted(
                    str(i.get("code")) for i in entry.get("interaction", []) if isinstance(i, dict)
                ),
                "search_params": sorted(
                    str(p.get("name")) for p in entry.get("searchParam", []) if isinstance(p, dict)
                ),
                "supported_profiles": sorted(map(str, entry.get("supportedProfile", []) or [])),
            }
        for param in (rest or {}).get("searchParam", []) or []:
            if isinstance(param, dict):
                view.setdefault("global_search_params", []).append(str(param.get("name")))
    return view


def build(needs: Needs, obs: Observations, recorded_from: str) -> Json:
    """The contract document for ``needs`` as ``obs`` saw athena."""
    routes: Json = {}
    for key, use in needs.routes.items():
        entry: Json = {"used_by": sorted(use.used_by), "records": use.records}
        if use.reads:
            stats = route_stats(obs, key, use.records)
            reads: Json = {}
            for name in sorted(use.reads):
                seen = stats.fields.get(name)
                reads[name] = {
                    "types": sorted(seen.types) if seen else [],
                    "required": bool(seen and stats.records and seen.present == stats.records),
                }
            entry["reads"] = reads
            entry["others"] = sorted(set(stats.fields) - use.reads)
        if use.writes or use.required_writes:
            entry["writes"] = sorted(use.writes)
            entry["required_writes"] = sorted(use.required_writes)
        routes[key] = entry
    view = capability_view(obs.capability)
    fhir: Json = {"fhirVersion": view["fhirVersion"], "types": {}}
    for kind, usage in needs.fhir_types.items():
        served = view["types"].get(kind, {})
        fhir["types"][kind] = {
            "interactions": sorted(usage.interactions),
            "search_params": sorted(usage.search_params - {"ah-practice"}),
            "supported_profiles": served.get("supported_profiles", []),
        }
    return {
        "about": "athena contracts the mapping tables depend on (facade/drift); regenerate "
        "with `athena-facade drift --record`",
        "recorded_from": recorded_from,
        "routes": routes,
        "errors": {
            name: {"status": answer.status, "shape": error_shape(answer.body)}
            for name, answer in sorted(obs.errors.items())
        },
        "fhir": fhir,
    }


def dumps(contract: Json) -> str:
    return orjson.dumps(contract, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def load(path: Path | None = None) -> Json:
    """The committed contract (the ``contracts`` data package), or the one at ``path``."""
    raw = path.read_bytes() if path else (resources.files("contracts") / CONTRACT_FILE).read_bytes()
    loaded: Json = orjson.loads(raw)
    return loaded


def default_path() -> Path:
    return Path(str(resources.files("contracts") / CONTRACT_FILE))
