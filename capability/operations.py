"""OperationDefinitions for the operations the tables declare (FHIR R4 operationdefinition.html).

Each is served at its canonical URL, ``{base}/OperationDefinition/{Type}-{name}``,
and named from the CapabilityStatement (``rest.resource.operation``). An operation that
is exactly one the specification defines (R4 core ``CoverageEligibilityRequest/$submit``)
is named there by the specification's canonical, and the served definition is ``base``d
on it.
"""

from __future__ import annotations

from typing import Any

from facade.mapping.loader import Mappings


def operation_id(resource_type: str, name: str) -> str:
    return f"{resource_type}-{name}"


def operation_definitions(
    mappings: Mappings, *, fhir_base: str, release_date: str = "2026-11-29"
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for rtype, table in sorted(mappings.tables.items()):
        for op in table.writes.operations if table.writes else []:
            oid = operation_id(rtype, op.name)
            definition: dict[str, Any] = {
                "resourceType": "OperationDefinition",
                "id": oid,
                "url": f"{fhir_base}/OperationDefinition/{oid}",
                "name": f"{rtype}{op.name.title().replace('-', '')}",
                "status": "active",
                "kind": "operation",
                "date": release_date,
                "code": op.name,
                "resource": [rtype],
                "system": False,
                "type": True,
                "instance": False,
                "affectsState": op.writes,
                "parameter": [
                    {
                        "name": p.name,
                        "use": p.use,
                        "min": p.min,
                        "max": p.max,
                        **({"type": p.type} if p.type else {}),
                        **({"documentation": p.documentation} if p.documentation else {}),
                    }
                    for p in op.parameters
                ],
            }
            if op.documentation:
                definition["description"] = op.documentation
            if op.based_on:
                definition["comment"] = f"Follows {op.based_on}"
            if op.canonical:
                definition["base"] = op.canonical
            found[oid] = definition
    return found
