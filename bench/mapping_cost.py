"""P3: what mapping costs per resource, against fhir.resources validate + dump of the same output.

Builds a 50-entry search Bundle from athena /v1 patient records with the
facade's table-driven ``to_fhir`` + Bundle + orjson, and compares it with
``fhir.resources`` (R4B) ``model_validate`` + ``model_dump_json`` of the same 50
Patients — the cost a model-based server pays on every response.
"""

from __future__ import annotations

import time
from typing import Any

import orjson


def measure(repeats: int = 20) -> dict[str, float]:
    from fhir.resources.R4B.patient import Patient

    from emulator.config import EmulatorConfig
    from emulator.world import World
    from facade.fhir.bundle import searchset
    from facade.mapping.convert import to_fhir
    from facade.mapping.loader import load_mappings

    world = World(EmulatorConfig(generated_patients=200))
    records = [r.v1() for r in world.live_patients("195900")[:50]]
    mappings = load_mappings()
    table = mappings.tables["Patient"]

    def facade() -> bytes:
        resources = [to_fhir(r, table, "rest", "195900", mappings.codes) for r in records]
        bundle = searchset(
            base="http://x/fhir/r4", matches=resources, self_url="http://x/fhir/r4/Patient"
        )
        return orjson.dumps(bundle)

    resources: list[dict[str, Any]] = [
        to_fhir(r, table, "rest", "195900", mappings.codes) for r in records
    ]

    def models() -> list[str]:
        return [Patient.model_validate(r).model_dump_json() for r in resources]

    facade()
    models()
    best_facade = best_models = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        facade()
        best_facade = min(best_facade, time.perf_counter() - started)
        started = time.perf_counter()
        models()
        best_models = min(best_models, time.perf_counter() - started)
    per_facade = best_facade / len(records) * 1e6
    per_models = best_models / len(records) * 1e6
    return {"facade_us": per_facade, "models_us": per_models, "ratio": per_models / per_facade}
