"""A recorded contract against a new observation of athena: what changed, what breaks.

Per route, for the fields the tables read: **removed** (the contract saw it in every
record; now in none: a drop or a rename) and **retyped** (a JSON type the contract never
saw) are breaking; **now optional** (missing from some records) is a warning. Fields
athena now sends that neither the tables nor the recording knew are **added**. Error
answers: a different status, or the fields the facade reads from them
(``error`` on /v1, ``resourceType`` and ``issue`` on FHIR) gone or retyped, is breaking;
other shape changes are reported. The CapabilityStatement: another FHIR version, or a
type, interaction or search parameter a route uses gone, is breaking; changed supported
profiles are reported. Only names and types are reported, never values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facade.drift.contract import capability_view, route_stats
from facade.drift.probe import Observations
from facade.drift.shapes import error_shape

Json = dict[str, Any]
ERROR_READS = {"rest": {"error": "string"}, "fhir": {"resourceType": "string", "issue": "array"}}


@dataclass
class Change:
    kind: str  # removed | retyped | optional | added | error | capability | unobserved
    field: str
    detail: str
    breaking: bool


@dataclass
class RouteReport:
    key: str
    used_by: list[str]
    records: int | None  # None: not probed (writes, or nothing found to probe)
    changes: list[Change] = field(default_factory=list)


@dataclass
class Report:
    routes: list[RouteReport]
    errors: list[Change]
    capability: list[Change]
    notes: list[str]

    @property
    def breaking(self) -> list[tuple[str, Change]]:
        found = [(r.key, c) for r in self.routes for c in r.changes if c.breaking]
        found += [("errors", c) for c in self.errors if c.breaking]
        found += [("CapabilityStatement", c) for c in self.capability if c.breaking]
        return found

    def as_json(self) -> Json:
        def change(c: Change) -> Json:
            return {"kind": c.kind, "field": c.field, "detail": c.detail, "breaking": c.breaking}

        return {
            "breaking": len(self.breaking),
            "routes": [
                {
                    "route": r.key,
                    "used_by": r.used_by,
                    "records": r.records,
                    "changes": [change(c) for c in r.changes],
                }
                for r in self.routes
            ],
            "errors": [change(c) for c in self.errors],
            "capability": [change(c) for c in self.capability],
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = []
        for route in self.routes:
            if route.records is None:
                state = "writes only: not probed (drift never writes)" if not route.changes else ""
                state = state or "not probed"
            else:
                state = f"{route.records} records"
            flag = (
                "BREAKING"
                if any(c.breaking for c in route.changes)
                else ("changed" if route.changes else "ok")
            )
            lines.append(f"{flag:8} {route.key}  [{state}]")
            for c in route.changes:
                mark = "!" if c.breaking else "-"
                lines.append(f"           {mark} {c.kind} {c.field}: {c.detail}")
        for title, changes in (("errors", self.errors), ("CapabilityStatement", self.capability)):
            flag = (
                "BREAKING" if any(c.breaking for c in changes) else ("changed" if changes else "ok")
            )
            lines.append(f"{flag:8} {title}")
            for c in changes:
                lines.append(
                    f"           {'!' if c.breaking else '-'} {c.kind} {c.field}: {c.detail}"
                )
        lines += [f"note: {n}" for n in self.notes]
        breaking = self.breaking
        if breaking:
            names = ", ".join(f"{c.field} ({key})" for key, c in breaking)
            lines.append(f"{len(breaking)} breaking change(s): {names}")
        else:
            lines.append("no breaking changes")
        return "\n".join(lines)


def _route(key: str, entry: Json, obs: Observations) -> RouteReport:
    report = RouteReport(key, entry.get("used_by", []), None)
    reads: Json = entry.get("reads") or {}
    if not reads:
        return report
    stats = route_stats(obs, key, entry["records"])
    if stats.records == 0:
        if stats.answers == 0 and key not in obs.answers:
            report.changes.append(Change("unobserved", "-", "no probe reached it", False))
        elif stats.answers == 0:
            statuses = sorted({a.status for a in obs.answers.get(key, [])})
            report.changes.append(Change("unobserved", "-", f"athena answered {statuses}", False))
        elif any(spec.get("required") for spec in reads.values()):
            # answers without records: the list moved, or athena had nothing to list
            report.changes.append(
                Change("unobserved", entry["records"], "answers carried no records", False)
            )
        report.records = 0 if stats.answers else None
        return report
    report.records = stats.records
    for name, spec in reads.items():
        seen = stats.fields.get(name)
        known = set(spec.get("types") or [])
        if spec.get("required") and seen is None:
            report.changes.append(
                Change("removed", name, f"in no record of {stats.records} (was in every one)", True)
            )
        elif spec.get("required") and seen is not None and seen.present < stats.records:
            report.changes.append(
                Change(
                    "optional",
                    name,
                    f"missing from {stats.records - seen.present} of {stats.records} records",
                    False,
                )
            )
        if seen is not None and known and seen.types - known:
            was, now = "|".join(sorted(known)), "|".join(sorted(seen.types))
            report.changes.append(Change("retyped", name, f"{was} -> {now}", True))
    known_fields = set(reads) | set(entry.get("others") or [])
    for name in sorted(set(stats.fields) - known_fields):
        report.changes.append(Change("added", name, "sent by athena, read by no table", False))
    return report


def _errors(contract: Json, obs: Observations) -> list[Change]:
    changes: list[Change] = []
    for name, recorded in (contract.get("errors") or {}).items():
        answer = obs.errors.get(name)
        if answer is None:
            continue
        surface = name.split()[0]
        if answer.status != recorded["status"]:
            changes.append(
                Change("error", name, f"status {recorded['status']} -> {answer.status}", True)
            )
            continue
        was, now = recorded["shape"], error_shape(answer.body)
        for element, kind in ERROR_READS.get(surface, {}).items():
            if now.get(element) != kind and was.get(element) == kind:
                changes.append(
                    Change(
                        "error",
                        f"{name} {element}",
                        f"{kind} -> {now.get(element, 'absent')}",
                        True,
                    )
                )
        for element in sorted(set(was) | set(now)):
            if element in ERROR_READS.get(surface, {}) or was.get(element) == now.get(element):
                continue
            detail = f"{was.get(element, 'absent')} -> {now.get(element, 'absent')}"
            changes.append(Change("error", f"{name} {element}", detail, False))
    return changes


def _capability(contract: Json, obs: Observations) -> list[Change]:
    recorded = contract.get("fhir") or {}
    view = capability_view(obs.capability)
    changes: list[Change] = []
    if view["fhirVersion"] != recorded.get("fhirVersion"):
        changes.append(
            Change(
                "capability",
                "fhirVersion",
                f"{recorded.get('fhirVersion')} -> {view['fhirVersion']}",
                True,
            )
        )
    for kind, needs in (recorded.get("types") or {}).items():
        served = view["types"].get(kind)
        if served is None:
            changes.append(Change("capability", kind, "type no longer served", True))
            continue
        for interaction in sorted(set(needs["interactions"]) - set(served["interactions"])):
            changes.append(Change("capability", kind, f"interaction {interaction} gone", True))
        for param in sorted(set(needs["search_params"]) - set(served["search_params"])):
            changes.append(Change("capability", kind, f"search parameter {param} gone", True))
        was, now = set(needs["supported_profiles"]), set(served["supported_profiles"])
        for profile in sorted(was - now):
            changes.append(Change("capability", kind, f"profile {profile} no longer listed", False))
        for profile in sorted(now - was):
            changes.append(Change("capability", kind, f"profile {profile} now listed", False))
    return changes


def compare(contract: Json, obs: Observations) -> Report:
    routes = [_route(key, entry, obs) for key, entry in (contract.get("routes") or {}).items()]
    return Report(routes, _errors(contract, obs), _capability(contract, obs), list(obs.notes))
