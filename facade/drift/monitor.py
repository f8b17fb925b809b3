"""The run-time contract check: every athena answer against the recorded contract.

:class:`ContractMonitor` is handed each successful answer by the upstream client
(:attr:`facade.upstream.client.AthenaClient.monitor`). For the route's first few records
(``sample``) it checks the fields the tables read: a field the contract saw in every
record that is now missing from ``MISSING_STREAK`` records in a row on its route, or a
value of a JSON type the contract never saw, is a violation (a field athena leaves out
of the odd record is optional data, not drift: 8 of the emulator's 1,807 patients have
no ``communication`` though the recorded sample of 100 always had one; a field athena
removed is missing from every record and is counted from the third on); so is a /v1 list answer without its list key. Violations are counted per
route, field and kind (``/metrics``: ``facade_athena_contract_violations_total``) and
logged once each (WARNING on ``facade.drift``), with route templates and field names
only, never values. An error answer (400, 404) is checked for the fields the facade reads
from it: ``error`` (a string) on /v1, ``resourceType`` OperationOutcome with an ``issue``
list on FHIR (kind ``error-shape``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from facade.drift.shapes import json_type, records_of

log = logging.getLogger("facade.drift")
Json = dict[str, Any]
_MISSING = object()
MISSING_STREAK = 3  # records in a row without a required field before it counts as missing


@dataclass(frozen=True)
class _Route:
    records: str
    fields: tuple[tuple[str, frozenset[str], bool], ...]  # name, types, required


class ContractMonitor:
    def __init__(self, contract: Json, *, sample: int = 3) -> None:
        self.sample = sample
        self._routes: dict[str, _Route] = {}
        for key, entry in (contract.get("routes") or {}).items():
            reads = entry.get("reads") or {}
            fields = tuple(
                (name, frozenset(spec.get("types") or ()), bool(spec.get("required")))
                for name, spec in sorted(reads.items())
                if spec.get("types") or spec.get("required")
            )
            if fields:
                self._routes[key] = _Route(entry["records"], fields)
        self.violations: dict[tuple[str, str, str], int] = {}
        self._absent: dict[tuple[str, str], int] = {}  # route, field -> records in a row without

    def _violation(self, route: str, name: str, kind: str) -> None:
        key = (route, name, kind)
        count = self.violations.get(key, 0)
        self.violations[key] = count + 1
        if count == 0:
            log.warning(
                "athena contract violation",
                extra={"fields": {"route": route, "field": name, "kind": kind}},
            )

    def observe(self, surface: str, method: str, template: str, status: int, body: Any) -> None:
        route_key = f"{surface} {method} {template}"
        if status in (400, 404):
            self._error(route_key, surface, body)
            return
        if status != 200:
            return
        route = self._routes.get(route_key)
        if route is None:
            return
        where = route.records
        if where.startswith("list:") and isinstance(body, dict) and where[5:] not in body:
            self._violation(route_key, where[5:], "missing")
            return
        for record in records_of(body, where, self.sample):
            for name, types, required in route.fields:
                value = record.get(name, _MISSING)
                if value is _MISSING:
                    if required:
                        streak = self._absent.get((route_key, name), 0) + 1
                        self._absent[(route_key, name)] = streak
                        if streak >= MISSING_STREAK:
                            self._violation(route_key, name, "missing")
                    continue
                if required and (route_key, name) in self._absent:
                    del self._absent[(route_key, name)]
                if types and json_type(value) not in types:
                    self._violation(route_key, name, "retyped")

    def _error(self, route_key: str, surface: str, body: Any) -> None:
        if not isinstance(body, dict):
            self._violation(route_key, "(body)", "error-shape")
        elif surface == "rest" and not isinstance(body.get("error"), str):
            self._violation(route_key, "error", "error-shape")
        elif surface == "fhir" and (
            body.get("resourceType") != "OperationOutcome"
            or not isinstance(body.get("issue"), list)
        ):
            self._violation(route_key, "issue", "error-shape")

    def metric_lines(self) -> list[str]:
        lines = ["# TYPE facade_athena_contract_violations_total counter"]
        for (route, name, kind), count in sorted(self.violations.items()):
            labels = f'route="{route}",field="{name}",kind="{kind}"'
            lines.append(f"facade_athena_contract_violations_total{{{labels}}} {count}")
        return lines


def packaged() -> ContractMonitor:
    """A monitor over the committed contract (``contracts/athena.json``)."""
    from importlib import resources

    import orjson

    return ContractMonitor(
        orjson.loads((resources.files("contracts") / "athena.json").read_bytes())
    )
