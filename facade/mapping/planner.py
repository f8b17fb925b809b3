"""The planner: (table, SearchRequest, practice) -> UpstreamPlan.

Routes are tried in table order; the first whose requirements the request
meets wins (DESIGN.md "Mapping tables"). A parameter is *pushed* when the
route can translate it with the same or a wider meaning (FHIR's starts-with
``name`` becomes athena's starts-with ``name``; ``birthdate=eq1970-01-01``
becomes ``dob=01/01/1970``). Everything is filtered locally afterwards, so a
pushed parameter only narrows what athena returns; it never decides alone.
When a parameter that athena matches exactly cannot match anything in this
practice (an ``_id`` from another practice, an identifier of a foreign
system), the plan is empty and no upstream call is made. The same holds on every
table for an ``_id``, ``identifier`` or reference whose value cannot be an athena id
(the table's ``id`` scheme declares the syntax): such values never reach athena's
paths or queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta

from facade.errors import InvalidRequest
from facade.mapping.ids import ATHENA_LOCAL_ID, FhirId, format_id, parse_table_id
from facade.mapping.table import Push, Route, Table
from facade.mapping.transforms import TRANSFORMS
from facade.search import SearchParam, SearchRequest, parse_date_param, parse_token, unescape
from facade.search import parse_reference as parse_reference_param


class _NoMatch:
    """Sentinel: the parameter provably matches nothing in this practice."""


NO_MATCH = _NoMatch()


@dataclass(frozen=True)
class UpstreamPlan:
    route: Route
    practice: str
    params: tuple[tuple[str, str], ...]
    pushed: frozenset[str]
    exact_total: bool  # upstream totals equal ours: every applied parameter pushed exactly
    empty: bool = False  # nothing can match; answer without calling athena


def _template(text: str, practice: str) -> str:
    return text.replace("{practice}", practice)


def _translate(
    push: Push, param: SearchParam, table: Table, practice: str
) -> str | _NoMatch | None:
    """The upstream value for one parameter, ``None`` when this route cannot push it."""
    if len(param.values) > 1 and push.multiple and param.modifier in push.modifiers:
        items = [
            _translate(push, replace(param, values=(v,)), table, practice) for v in param.values
        ]
        if any(item is None for item in items):
            return None
        kept = [item for item in items if isinstance(item, str)]
        return ",".join(kept) if kept else NO_MATCH
    if len(param.values) != 1 or param.modifier not in push.modifiers:
        return None
    value = param.values[0]
    if push.kind == "value":
        text = unescape(value)
    elif push.kind in ("token-code", "token-value"):
        token = parse_token(value)
        expected = _template(push.system, practice) if push.system else None
        if token.has_system and expected is not None and token.system != expected:
            return NO_MATCH if push.kind == "token-value" else None
        if not token.code:
            return None
        text = token.code
    elif push.kind == "token-fhir-id":  # an identifier holding athena's id -> the FHIR id
        token = parse_token(value)
        expected = _template(push.system, practice) if push.system else None
        if token.has_system and expected is not None and token.system != expected:
            return NO_MATCH
        if not token.code or not re.fullmatch(table.id.local_pattern, token.code):
            return NO_MATCH
        text = format_id(practice, table.id.prefix, token.code)
    elif push.kind == "date":
        date = parse_date_param(value)
        raw = value[2:] if value[:2].isalpha() else value
        if date.prefix not in push.prefixes or (push.precision == "day" and len(raw) != 10):
            return None
        text = raw
    elif push.kind in ("fhir-id", "fhir-id-local"):
        try:
            fid: FhirId = parse_table_id(unescape(value), table.id)
        except InvalidRequest:
            return NO_MATCH
        if fid.practice != practice:
            return NO_MATCH
        # "fhir-id" passes the FHIR id (athena's FHIR API), "fhir-id-local" athena's own id
        text = unescape(value) if push.kind == "fhir-id" else fid.local
    elif push.kind == "date-range":
        return None  # folded over every value by _date_window
    else:  # reference / reference-id: an athena-scheme reference (a-{practice}.{Prefix}-{id})
        ref = parse_reference_param(value)
        parts = ref.id.split(".", 1)
        if len(parts) != 2 or parts[0] != f"a-{practice}" or "-" not in parts[1]:
            return NO_MATCH
        if not ATHENA_LOCAL_ID.fullmatch(parts[1].split("-", 1)[1]):
            return NO_MATCH  # names no athena record (e.g. "E-..", which a path would resolve)
        # "reference" passes the FHIR id (athena's FHIR API), "reference-typed" Type/id,
        # "reference-id" the proprietary id, "reference-parts" the proprietary id's
        # "-"-separated parts (one per upstream parameter)
        if push.kind == "reference-typed":
            if ref.type is None:
                return None
            text = f"{ref.type}/{ref.id}"
        else:
            text = ref.id if push.kind == "reference" else parts[1].split("-", 1)[1]
        if push.kind == "reference-parts" and len(text.split("-")) != len(push.parts):
            return NO_MATCH
    if push.transform:  # the FHIR -> athena (write) direction of a named transform
        write = TRANSFORMS[push.transform].write
        converted = write(text) if write else None
        if converted is None:
            return None
        text = str(converted)
    return text


def _date_window(
    push: Push, params: list[SearchParam], zones: tuple[int, int] | None = None
) -> tuple[str, str] | None:
    """Every ``date`` parameter of the request (AND) narrowed to one inclusive day window.

    ``date=ge2025-07-01&date=lt2025-07-08`` -> ("07/01/2025", "07/07/2025") before
    widening. None when a bound is missing or a parameter has several (OR) values
    or a prefix that does not bound (ne): the route then cannot take the search.

    ``zones``: the lowest and highest UTC offset (hours) of the practice's departments,
    for a push whose days are department-local (``zone: department``): the window is
    then the local days those bounds fall on in those offsets, exactly what athena's
    days can hold, instead of ``widen_days`` on both sides.
    """
    low, high = None, None
    for param in params:
        if len(param.values) != 1 or param.modifier is not None:
            return None
        parsed = parse_date_param(param.values[0])
        if parsed.prefix not in push.prefixes:
            return None
        first, last = parsed.range.start, parsed.range.end
        lower = {"eq": first, "ge": first, "gt": last, "sa": last}.get(parsed.prefix)
        upper = {"eq": last, "le": last, "lt": first, "eb": first}.get(parsed.prefix)
        if lower is not None:
            low = lower if low is None else max(low, lower)
        if upper is not None:
            high = upper if high is None else min(high, upper)
    if low is None or high is None:
        return None
    try:
        if push.zone == "department" and zones is not None:
            # a record's local day is its instant plus its department's offset; ``high``
            # is exclusive, so its last instant is a microsecond before
            start = (low + timedelta(hours=zones[0])).date()
            end = (high - timedelta(microseconds=1) + timedelta(hours=zones[1])).date()
        else:
            widen = timedelta(days=push.widen_days)
            start, end = (low - widen).date(), (high + widen).date()
    except OverflowError:
        return None  # bounds at the ends of representable time: no window to push
    return start.strftime("%m/%d/%Y"), end.strftime("%m/%d/%Y")


def _plan_route(
    route: Route,
    table: Table,
    req: SearchRequest,
    practice: str,
    allow_scan: bool,
    zones: tuple[int, int] | None = None,
) -> UpstreamPlan | None:
    if route.scan and not allow_scan:
        return None
    upstream: list[tuple[str, str]] = [
        (name, _template(value, practice)) for name, value in route.fixed.items()
    ]
    pushed: set[str] = set()
    exact = True
    empty = False
    for param in req.params:
        if param.name == "ah-practice":
            continue
        push = route.push.get(param.name)
        if push is not None and any(name == push.param for name, _ in upstream):
            push = None  # that upstream parameter already carries another FHIR parameter
        if push is not None and push.kind == "date-range":
            window = None
            if param.name not in pushed:
                same = [p for p in req.params if p.name == param.name]
                window = _date_window(push, same, zones)
            if window is not None and push.end_param:
                upstream += [(push.param, window[0]), (push.end_param, window[1])]
                pushed.add(param.name)
            exact = False  # a window of whole days: always filtered locally
            continue
        translated = _translate(push, param, table, practice) if push else None
        if translated is None or param.name in pushed:
            definition = table.search_params[param.name]
            if not definition.local:
                return None  # can only be applied upstream, and this route cannot
            exact = False
            continue
        if isinstance(translated, _NoMatch):
            empty = True
            pushed.add(param.name)
            continue
        assert push is not None
        if push.kind == "reference-parts":
            upstream.extend(zip(push.parts, translated.split("-"), strict=True))
        else:
            upstream.append((push.param, translated))
        pushed.add(param.name)
        if param.name not in route.exact:
            exact = False
    if route.requires and not any(set(alt) <= pushed for alt in route.requires):
        return None
    supplied = {name for name, _ in upstream}
    upstream += [
        (name, _template(value, practice))
        for name, value in route.defaults.items()
        if name not in supplied
    ]
    return UpstreamPlan(
        route=route,
        practice=practice,
        params=tuple(upstream),
        pushed=frozenset(pushed),
        exact_total=exact,
        empty=empty,
    )


def _can_be_id(value: str, table: Table, practice: str) -> bool:
    try:
        return parse_table_id(unescape(value), table.id).practice == practice
    except InvalidRequest:
        return False


def _can_be_identifier(value: str, table: Table, practice: str) -> bool:
    """Whether one ``identifier`` value could match an identifier the table's resources carry."""
    assert table.id.identifier_system is not None
    syntax = {_template(table.id.identifier_system, practice): table.id.local_pattern}
    syntax.update(table.id.identifiers)
    try:
        token = parse_token(value)
    except InvalidRequest:
        return True  # malformed: the local filter reports it
    if not token.has_system:
        return any(re.fullmatch(pattern, token.code or "") for pattern in syntax.values())
    pattern = syntax.get(token.system or "")  # "|code" (no system): ours all have one
    return pattern is not None and (token.code is None or bool(re.fullmatch(pattern, token.code)))


def _matches_nothing(table: Table, req: SearchRequest, practice: str) -> bool:
    """An ``_id`` or ``identifier`` none of whose values can be an athena id of this table."""
    for param in req.params:
        if param.modifier is not None:
            continue
        if param.name == "_id":
            check = _can_be_id
        elif param.name == "identifier" and table.id.identifier_system is not None:
            check = _can_be_identifier
        else:
            continue
        if not any(check(value, table, practice) for value in param.values):
            return True
    return False


def plan_search(
    table: Table,
    req: SearchRequest,
    practice: str,
    *,
    allow_scan: bool = True,
    zones: tuple[int, int] | None = None,
) -> UpstreamPlan:
    """``zones``: the practice's lowest and highest department UTC offsets, when every
    department's is known (narrows ``zone: department`` date windows)."""
    for route in table.routes.search:
        plan = _plan_route(route, table, req, practice, allow_scan, zones)
        if plan is not None:
            if not plan.empty and _matches_nothing(table, req, practice):
                return replace(plan, empty=True)
            return plan
    combos = "; ".join(" + ".join(alt) for r in table.routes.search for alt in r.requires)
    raise InvalidRequest(
        f"This {table.resource} search cannot be answered; supported combinations: {combos}"
    )


def route_by_name(table: Table, name: str) -> Route:
    for route in [table.routes.read, *table.routes.search]:
        if route.name == name:
            return route
    raise KeyError(name)
