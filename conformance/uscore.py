"""The US Core 6.1 profile groups for the clinical types (Inferno's us_core_v610 groups).

For each profile (:data:`conformance.uscore_spec.GROUPS`):

1. **search**: the group's first search for every patient (``patient`` plus the profile's
   category or code); for the first patient with results it is repeated as
   ``patient=Patient/{id}`` and by POST, and the counts must be equal. Every returned
   resource must match every parameter. Resources declaring the profile are collected.
2. **search combinations**: every combination of the server CapabilityStatement for the
   type (SHALL and SHOULD), values taken from a collected resource; tokens in both forms
   (``code`` and ``system|code``), dates as the value and with ``gt``/``ge``/``lt``/``le``
   (FHIR range semantics); the seed must be returned and every result must match.
3. **read** of each collected resource (type and id as requested).
4. **_revinclude=Provenance:target** (each included Provenance targets a match), and the
   SHALL ``_include`` of the type (``MedicationRequest:medication``).
5. **references**: every relative reference of the collected resources resolves.
6. **validation** against the profile (the repository's StructureDefinition walker).
7. **must support**: every must-support element (:mod:`conformance.must_support`) appears
   in at least one collected resource (a gap is a skip, as in Inferno: the patients given
   may not cover it; the repository's own run requires every one).

Then the Clinical Notes check (the note types and report categories Inferno asks for, and
attachments readable) and the Missing Data check (a ``data-absent-reason`` extension and
code ``unknown`` among everything collected).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conformance.client import Json
from conformance.context import US_CORE, Context
from conformance.dates import implicit_range, satisfies
from conformance.must_support import MUST_SUPPORT
from conformance.result import Fail, Result, Skip, check, require
from conformance.uscore_spec import (
    COMBINATIONS,
    GROUPS,
    INCLUDES,
    NOTE_TYPES,
    PARAMS,
    REPORT_CATEGORIES,
    REVINCLUDE,
    Group,
)

MAX_READS = 5
MAX_REFERENCES = 12
MAX_ERRORS = 3
DAR_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
DAR_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
_EXTENSION = re.compile(r"^extension\((?P<url>[^)]+)\)$")
_PART = re.compile(r"extension\([^)]*\)|[^.]+")
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


# -- element access -------------------------------------------------------------------------


def at(node: Any, path: str) -> list[Any]:
    """Values at ``path``: dotted names, ``name[x]`` (any choice type), ``extension(url)``;
    extensions of a primitive are read from its ``_name`` sibling."""
    current: list[Any] = [node]
    parts = _PART.findall(path)  # dots inside extension(url) do not split
    for i, part in enumerate(parts):
        following: list[Any] = []
        match = _EXTENSION.match(part)
        for item in current:
            if not isinstance(item, dict):
                continue
            if match:
                values = [e for e in item.get("extension", []) if e.get("url") == match["url"]]
            elif part.endswith("[x]"):
                stem = part[:-3]
                values = [
                    v
                    for k, v in item.items()
                    if k.startswith(stem) and k[len(stem) :][:1].isupper()
                ]
            else:
                value = item.get(part)
                nxt = parts[i + 1] if i + 1 < len(parts) else ""
                if not isinstance(value, (dict, list)) and nxt.startswith("extension"):
                    value = item.get(f"_{part}")  # a primitive's extensions
                values = value if isinstance(value, list) else [] if value is None else [value]
            for v in values:
                following.extend(v if isinstance(v, list) else [v])
        current = following
    return current


def _codings(values: list[Any]) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for v in values:
        if isinstance(v, str):
            out.append((None, v))
        elif isinstance(v, dict):
            items = v["coding"] if isinstance(v.get("coding"), list) else [v]
            out += [(c.get("system"), str(c.get("code", c.get("value")))) for c in items]
    return out


def _as_period(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        return {"start": value, "end": value}
    if isinstance(value, dict) and (value.get("start") or value.get("end")):
        return value
    return None


def matches(resource: Json, rtype: str, name: str, value: str) -> bool:
    """Whether ``resource`` satisfies ``name=value`` (a comma list is an OR)."""
    kind, paths = PARAMS[(rtype, name)]
    found = [v for p in paths for v in at(resource, p)]
    for item in value.split(","):
        if kind == "reference":
            wanted = item.rsplit("/", 1)[-1]
            if any(
                isinstance(v, dict) and str(v.get("reference", "")).rsplit("/", 1)[-1] == wanted
                for v in found
            ):
                return True
        elif kind == "token":
            system, bar, code = item.rpartition("|")
            if any(
                c.lower() == code.lower() and (not bar or s == system) for s, c in _codings(found)
            ):
                return True
        elif kind == "string":
            if any(isinstance(v, str) and v.lower().startswith(item.lower()) for v in found):
                return True
        else:  # date
            prefix = item[:2] if item[:2].isalpha() else "eq"
            text = item[2:] if item[:2].isalpha() else item
            if any(
                (period := _as_period(v)) is not None and satisfies(prefix, text, period)
                for v in found
            ):
                return True
    return False


def _all_match(found: list[Json], rtype: str, params: dict[str, str]) -> None:
    for resource in found:
        for name, value in params.items():
            require(
                matches(resource, rtype, name, value),
                f"{rtype}?{params}: {rtype}/{resource.get('id')} does not match {name}={value}",
            )


def _declares(resource: Json, profile: str) -> bool:
    wanted = f"{US_CORE}{profile}"
    return any(str(p).split("|")[0] == wanted for p in resource.get("meta", {}).get("profile", []))


# -- the group checks -------------------------------------------------------------------------


def _collected(ctx: Context, group: Group) -> list[Json]:
    found = ctx.uscore.get(group.key, [])
    if not found:
        raise Skip(f"the {group.name} search returned no {group.profile} resources")
    return found


def _first_search(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: search by patient (id == Patient/id, GET == POST)")
    def run(ctx: Context) -> str:
        if not ctx.patient_ids:
            raise Skip("no patient ids given")
        found: list[Json] = []
        forms = 0
        for pid in ctx.patient_ids:
            params = {"patient": pid, **group.first}
            page = ctx.client.search(group.resource, params)
            _all_match(page.matches, group.resource, params)
            if page.matches and not forms:
                typed = ctx.client.search(group.resource, {**params, "patient": f"Patient/{pid}"})
                posted = ctx.client.search(group.resource, params, method="POST")
                require(sorted(typed.ids) == sorted(page.ids), f"{params}: Patient/{pid} differs")
                require(sorted(posted.ids) == sorted(page.ids), f"{params}: POST differs from GET")
                forms = 1
            found += [r for r in page.matches if _declares(r, group.profile)]
        ctx.uscore[group.key] = found
        if not found:
            raise Skip(f"no {group.profile} resource for these patients")
        return f"{len(found)} resources over {len(ctx.patient_ids)} patients"

    return run


def _values_for(seed: Json, rtype: str, names: tuple[str, ...]) -> list[dict[str, str]] | None:
    """Search parameter sets derived from ``seed`` (None when it lacks one of the values)."""
    base: dict[str, str] = {}
    variants: list[dict[str, str]] = []
    for name in names:
        if name == "patient":
            ref = next((v for p in PARAMS[(rtype, name)][1] for v in at(seed, p)), None)
            if not isinstance(ref, dict):
                return None
            base[name] = str(ref.get("reference", "")).rsplit("/", 1)[-1]
            continue
        if name == "_id":
            base[name] = str(seed["id"])
            continue
        kind, paths = PARAMS[(rtype, name)]
        found = [v for p in paths for v in at(seed, p)]
        if not found:
            return None
        if kind == "token":
            codings = _codings(found)
            system, code = next(((s, c) for s, c in codings if s), codings[0])
            base[name] = code
            if system:
                variants.append({name: f"{system}|{code}"})
        elif kind == "reference":
            base[name] = str(found[0].get("reference", ""))
        elif kind == "string":
            base[name] = str(found[0])
        else:
            period = _as_period(found[0])
            if period is None:
                return None
            start = period.get("start") or period.get("end")
            low = implicit_range(str(start))[0]
            if isinstance(found[0], str):
                base[name] = found[0]  # the value itself, at its own precision
            else:
                base[name] = f"ge{(low - timedelta(days=1)).isoformat(timespec='seconds')}"
            for prefix, shift in (("gt", -1), ("ge", -1), ("lt", 1), ("le", 1)):
                moment = (low + timedelta(days=shift)).isoformat(timespec="seconds")
                variants.append({name: f"{prefix}{moment}"})
    return [base, *({**base, **v} for v in variants)]


def _combinations(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: search parameter combinations (tokens both forms, date comparators)")
    def run(ctx: Context) -> str:
        found = _collected(ctx, group)
        searches = 0
        shall_missing: list[str] = []
        for expectation, names in COMBINATIONS.get(group.resource, []):
            seed = next((r for r in found if _values_for(r, group.resource, names)), None)
            if seed is None:
                if expectation == "SHALL":
                    shall_missing.append("+".join(names))
                continue
            for params in _values_for(seed, group.resource, names) or []:
                hits = ctx.client.search(group.resource, params).matches
                require(
                    seed.get("id") in [h.get("id") for h in hits],
                    f"{group.resource}?{params}: {group.resource}/{seed.get('id')} not returned",
                )
                _all_match(hits, group.resource, {k: v for k, v in params.items() if k != "_id"})
                searches += 1
        require(not shall_missing, f"no resource to derive the SHALL {shall_missing} from")
        if not searches:
            raise Skip("no combination could be derived from the collected resources")
        return f"{searches} searches, every result matching"

    return run


def _read(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: read")
    def run(ctx: Context) -> str:
        sample = _collected(ctx, group)[:MAX_READS]
        for resource in sample:
            got = ctx.client.read_exact(f"{group.resource}/{resource.get('id')}")
            require(got == resource, f"{group.resource}/{resource.get('id')}: read != search")
        return f"{len(sample)} reads"

    return run


def _includes(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: _revinclude=Provenance:target and _include")
    def run(ctx: Context) -> str:
        found = _collected(ctx, group)
        pid = str(at(found[0], PARAMS[(group.resource, "patient")][1][0])[0]["reference"])
        params = {"patient": pid.rsplit("/", 1)[-1], **group.first}
        notes: list[str] = []
        if group.resource in REVINCLUDE:
            page = ctx.client.search(group.resource, {**params, "_revinclude": "Provenance:target"})
            ids = {f"{group.resource}/{r.get('id')}" for r in page.matches}
            provenance = [r for r in page.included if r.get("resourceType") == "Provenance"]
            for p in provenance:
                targets = {str(t.get("reference")) for t in p.get("target", [])}
                require(targets & ids, f"Provenance/{p.get('id')} targets no match")
            notes.append(f"{len(provenance)} Provenance")
        if group.resource in INCLUDES:
            name, path, target = INCLUDES[group.resource]
            page = ctx.client.search(group.resource, {**params, "_include": name})
            included = {f"{r.get('resourceType')}/{r.get('id')}" for r in page.included}
            wanted = {
                str(v.get("reference"))
                for r in page.matches
                for v in at(r, path)
                if isinstance(v, dict)
            }
            require(
                wanted <= included, f"_include={name}: {sorted(wanted - included)} not included"
            )
            notes.append(f"{len(wanted)} {target} included")
        if not notes:
            raise Skip(f"{group.resource} has neither")
        return ", ".join(notes)

    return run


def references_in(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and _REFERENCE.match(ref):
            found.append(ref)
        for value in node.values():
            found += references_in(value)
    elif isinstance(node, list):
        for item in node:
            found += references_in(item)
    return found


def _references(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: references resolve")
    def run(ctx: Context) -> str:
        refs = sorted({r for res in _collected(ctx, group) for r in references_in(res)})
        by_type: dict[str, list[str]] = {}
        for ref in refs:
            by_type.setdefault(ref.split("/")[0], []).append(ref)
        sample = [r for items in by_type.values() for r in items[:3]][:MAX_REFERENCES]
        if not sample:
            raise Skip("no references")
        for ref in sample:
            ctx.resolved_uscore.append(ctx.client.read_exact(ref))
        return f"{len(sample)} resolved ({', '.join(sorted(by_type))})"

    return run


def _validation(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: profile validation")
    def run(ctx: Context) -> str:
        from conformance.validation import _validator

        found = _collected(ctx, group)
        validator = _validator()
        errors: list[str] = []
        for resource in found:
            name = f"{group.resource}/{resource.get('id')}"
            profile = f"{US_CORE}{group.profile}|6.1.0"
            errors += [f"{name}: {e}" for e in validator.validate(resource, profile)]
        if errors:
            raise Fail(f"{len(errors)} errors, first: " + "; ".join(errors[:MAX_ERRORS]))
        return f"{len(found)} resources valid against {group.profile} 6.1.0"

    return run


def _must_support(group: Group) -> Callable[[Context], Result]:
    @check(f"{group.name}: must support elements")
    def run(ctx: Context) -> str:
        found = _collected(ctx, group)
        paths = MUST_SUPPORT[group.profile]
        missing = [p for p in paths if not any(at(r, p) for r in found)]
        if missing:  # as Inferno: a gap is a skip (the patients given may not cover it)
            raise Skip(f"not in any resource: {', '.join(missing)}")
        return f"{len(paths)} elements covered"

    return run


def group_checks(group: Group) -> list[Callable[[Context], Result]]:
    checks = [_first_search(group), _combinations(group), _read(group)]
    if group.resource in REVINCLUDE or group.resource in INCLUDES:
        checks.append(_includes(group))
    checks += [_references(group), _validation(group), _must_support(group)]
    for each in checks:  # a distinct name per check (reports, test ids)
        name = str(each.__dict__["check_name"])
        each.__name__ = re.sub(r"\W+", "_", name).strip("_").lower()
    return checks


@check("Medication (MedicationRequest:medication): read, validation, must support")
def medication(ctx: Context) -> str:
    from conformance.validation import _validator

    refs = sorted(
        {str(v["reference"]) for r in ctx.uscore.get("us-core-medicationrequest", [])
         for v in at(r, "medicationReference") if isinstance(v, dict)}
    )  # fmt: skip
    if not refs:
        raise Skip("no MedicationRequest names a Medication")
    found = [ctx.client.read_exact(ref) for ref in refs]
    validator = _validator()
    errors = [e for r in found for e in validator.validate(r, f"{US_CORE}us-core-medication|6.1.0")]
    require(not errors, f"{len(errors)} errors, first: {'; '.join(errors[:MAX_ERRORS])}")
    missing = [p for p in MUST_SUPPORT["us-core-medication"] if not any(at(r, p) for r in found)]
    if missing:
        raise Skip(f"not in any Medication: {missing}")
    return f"{len(found)} Medications"


@check("Clinical Notes (note types, report categories, attachments readable)")
def clinical_notes(ctx: Context) -> str:
    documents = ctx.uscore.get("us-core-documentreference", [])
    reports = ctx.uscore.get("us-core-diagnosticreport-note", [])
    if not documents and not reports:
        raise Skip("no DocumentReference or DiagnosticReport Note collected")
    types = {c for d in documents for _, c in _codings(at(d, "type"))}
    categories = {c for r in reports for _, c in _codings(at(r, "category"))}
    urls = sorted({str(u) for d in documents for u in at(d, "content.attachment.url")})
    for url in urls[:MAX_READS]:
        response = ctx.client.get(url)
        require(response.status_code == 200, f"attachment {url}: HTTP {response.status_code}")
    gaps = sorted(NOTE_TYPES - types) + sorted(REPORT_CATEGORIES - categories)
    if gaps:  # the patients given may not have them all (a skip, like must-support gaps)
        raise Skip(f"no note of type/category {', '.join(gaps)}; {len(urls)} attachments read")
    return f"{len(types)} note types, {len(categories)} report categories, {len(urls)} attachments"


def _dar(node: Any, found: dict[str, bool]) -> None:
    if isinstance(node, dict):
        if node.get("url") == DAR_EXTENSION:
            found["extension"] = True
        if node.get("system") == DAR_SYSTEM and node.get("code") == "unknown":
            found["code"] = True
        for value in node.values():
            _dar(value, found)
    elif isinstance(node, list):
        for item in node:
            _dar(item, found)


@check("Missing Data (data-absent-reason extension and code)")
def missing_data(ctx: Context) -> str:
    resources = [r for found in ctx.uscore.values() for r in found]
    if not resources:
        raise Skip("no US Core clinical resources collected")
    found = {"extension": False, "code": False}
    for resource in [*resources, *ctx.all_encounters()]:
        _dar(resource, found)
    require(found["extension"], "no resource carries the data-absent-reason extension")
    require(found["code"], "no resource carries the data-absent-reason code 'unknown'")
    return "extension and code 'unknown' present"


CHECKS: list[Callable[[Context], Result]] = [
    *(c for group in GROUPS for c in group_checks(group)),
    medication,
    clinical_notes,
    missing_data,
]
