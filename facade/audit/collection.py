"""The audit trail as the engine reads it: the ``audit-events`` collection behind the
``AuditEvent`` table's ``surface: store`` routes (mappings/auditevent.yaml).

Records are rendered from their facts (the chain hashes exactly those); their id is
``a-{practice}.AuditEvent-{seq}``. Pushed parameters narrow the store's query; the engine
checks every parameter on the resources as for any table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from facade.audit.events import render
from facade.engine import registry
from facade.mapping.ids import format_id
from facade.store.audit import AuditRow, AuditStore

if TYPE_CHECKING:
    from facade.engine.services import Services

Json = dict[str, Any]


def _resource(row: AuditRow) -> Json:
    resource = render(orjson.loads(row.facts))
    return {
        "resourceType": "AuditEvent",
        "id": format_id(row.practice, "AuditEvent", str(row.seq)),
        **resource,
    }


def _store(services: Services) -> AuditStore | None:
    return services.audit.store


class AuditEvents:
    async def get(self, services: Services, practice: str, local: str) -> Json | None:
        store = _store(services)
        if store is None or not local.isdigit():
            return None
        row = store.get(practice, int(local))
        return None if row is None else _resource(row)

    async def page(
        self,
        services: Services,
        practice: str,
        params: list[tuple[str, str]],
        offset: int,
        limit: int,
    ) -> tuple[list[Json], bool]:
        store = _store(services)
        if store is None:
            return [], False
        filters = dict(params)
        rows = store.page(practice, filters, offset, limit + 1)
        return [_resource(r) for r in rows[:limit]], len(rows) > limit


registry.collection("audit-events", AuditEvents())
