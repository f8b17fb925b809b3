"""Local evaluation of FHIR search parameters on mapped resources.

athena cannot filter everything a FHIR client asks for, and where it can its
semantics differ (case, accents, prefixes). Every search result is therefore
checked here against every parameter, so a Bundle only ever contains resources
that match (FHIR R4 search §3.1.1; Inferno checks each returned resource).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from facade.errors import InvalidRequest
from facade.mapping.paths import get_values, parse_path
from facade.mapping.table import SearchParamDef, Table
from facade.search import (
    DateParam,
    DateRange,
    SearchParam,
    SearchRequest,
    date_matches,
    parse_date_param,
    parse_reference,
    parse_token,
    period_range,
    reference_matches,
    string_matches,
    token_matches,
    unescape,
    value_range,
)

Json = dict[str, Any]

# Parameters handled by the request pipeline itself, never matched on a resource.
TENANCY_PARAMS = frozenset({"ah-practice"})


def validate_request(table: Table, req: SearchRequest, *, strict: bool) -> SearchRequest:
    """Check names, modifiers and values; drop (lenient) or refuse (strict) unknown ones.

    Returns the request restricted to the parameters that will be applied, which
    is also what the Bundle's ``self`` link shows.
    """
    kept: list[SearchParam] = []
    for param in req.params:
        if param.name in TENANCY_PARAMS:
            kept.append(param)
            continue
        definition = table.search_params.get(param.name)
        if definition is None:
            if strict:
                raise InvalidRequest(
                    f"Unknown or unsupported search parameter {param.name!r} for {table.resource}",
                    expression=(param.name,),
                )
            continue
        _check_modifier(param, definition)
        for value in param.values:
            _check_value(param, definition, value)
        kept.append(param)
    return replace(req, params=tuple(kept))


def _check_modifier(param: SearchParam, definition: SearchParamDef) -> None:
    if param.modifier is None or param.modifier in definition.modifiers:
        return
    if param.modifier == "missing" and definition.local:
        return
    if definition.type == "reference" and param.modifier in definition.target:
        return  # a :[type] modifier
    # An unsupported modifier changes the meaning of the search; ignoring it
    # would return wrong results, so it is refused even in lenient mode.
    raise InvalidRequest(
        f"Modifier :{param.modifier} is not supported on {param.name}",
        expression=(f"{param.name}:{param.modifier}",),
    )


def _check_value(param: SearchParam, definition: SearchParamDef, value: str) -> None:
    if param.modifier == "missing":
        if value not in ("true", "false"):
            raise InvalidRequest(
                f"{param.name}:missing takes true or false", expression=(param.name,)
            )
        return
    if definition.type == "date":
        parsed = parse_date_param(value)
        if definition.comparators and parsed.prefix not in definition.comparators:
            raise InvalidRequest(f"Prefix {parsed.prefix} is not supported on {param.name}")
    elif definition.type == "token":
        parse_token(value)
    elif definition.type == "reference":
        parse_reference(
            value, allowed_types=tuple(definition.target), type_hint=_type_hint(param, definition)
        )
    elif definition.type == "string" and not unescape(value).strip():
        raise InvalidRequest(f"Empty value for {param.name}", expression=(param.name,))


def matches(resource: Json, table: Table, req: SearchRequest) -> bool:
    """True when the resource satisfies every (AND) parameter, each with any (OR) value."""
    for param in req.params:
        definition = table.search_params.get(param.name)
        if definition is None or not definition.local:
            continue
        found = [v for path in definition.paths for v in get_values(resource, parse_path(path))]
        if param.modifier == "missing":
            if any((not found) != (v == "true") for v in param.values):
                return False
            continue
        if not any(_match_value(definition, param, value, found) for value in param.values):
            return False
    return True


def _match_value(
    definition: SearchParamDef, param: SearchParam, value: str, found: list[Any]
) -> bool:
    kind = definition.type
    if kind == "string":
        text = unescape(value)
        return any(isinstance(v, str) and string_matches(text, v, param.modifier) for v in found)
    if kind == "token":
        token = parse_token(value)
        return any(
            token_matches(token, system, code) for system, code in _codes(found, definition.system)
        )
    if kind == "date":
        date_param: DateParam = parse_date_param(value)
        return any(date_matches(date_param, t) for t in _ranges(found))
    if kind == "reference":
        ref = parse_reference(
            value, allowed_types=tuple(definition.target), type_hint=_type_hint(param, definition)
        )
        return any(
            isinstance(v, dict) and reference_matches(ref, v.get("reference")) for v in found
        )
    return False


def _type_hint(param: SearchParam, definition: SearchParamDef) -> str | None:
    """A ``:[type]`` modifier on a reference parameter (search §reference)."""
    if param.modifier and param.modifier in definition.target:
        return param.modifier
    return None


def _codes(found: list[Any], implicit_system: str | None) -> list[tuple[str | None, str | None]]:
    """(system, code) pairs from codes, Codings, CodeableConcepts, Identifiers and booleans."""
    pairs: list[tuple[str | None, str | None]] = []
    for v in found:
        if isinstance(v, dict):
            if isinstance(v.get("coding"), list):  # CodeableConcept
                pairs.extend(
                    (c.get("system"), c.get("code")) for c in v["coding"] if isinstance(c, dict)
                )
            else:  # Identifier or Coding
                pairs.append((v.get("system"), v.get("value", v.get("code"))))
        elif isinstance(v, bool):
            pairs.append((implicit_system, str(v).lower()))
        elif isinstance(v, str):
            pairs.append((implicit_system, v))
    return pairs


def _ranges(found: list[Any]) -> list[DateRange]:
    """Implicit ranges of date/dateTime/instant values and of Periods; bad data matches nothing."""
    ranges: list[DateRange] = []
    for v in found:
        try:
            if isinstance(v, str):
                ranges.append(value_range(v))
            elif isinstance(v, dict) and ("start" in v or "end" in v):
                ranges.append(period_range(v.get("start"), v.get("end")))
        except ValueError:
            continue
    return ranges
