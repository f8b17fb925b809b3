"""Local evaluation of FHIR search parameters on mapped resources.

athena cannot filter everything a FHIR client asks for, and where it can its
semantics differ (case, accents, prefixes). Every search result is therefore
checked here against every parameter, so a Bundle only ever contains resources
that match (FHIR R4 search §3.1.1; Inferno checks each returned resource).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import Any

from facade.errors import InvalidRequest
from facade.mapping.compiled import MAX_READERS, Reader, getter_of, reader_of
from facade.mapping.convert import Codes
from facade.mapping.paths import Segment, get_values, parse_path
from facade.mapping.table import Field_, Route, SearchParamDef, Table
from facade.search import (
    DateRange,
    SearchParam,
    SearchRequest,
    date_matches,
    parse_date_param,
    parse_reference,
    parse_token,
    period_range,
    range_or_none,
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
    return compile_filter(table, req)(resource)


@dataclass(frozen=True)
class _Check:
    """One local parameter with its values parsed once (not once per resource)."""

    definition: SearchParamDef
    param: SearchParam
    paths: tuple[tuple[Segment, ...], ...]
    values: tuple[Any, ...]
    # the paths are plain top-level elements (``start``, ``status``): read directly
    plain: tuple[str, ...] | None = None

    def passes(self, resource: Json) -> bool:
        if self.plain is not None:
            found: list[Any] = []
            for name in self.plain:
                value = resource.get(name)
                if isinstance(value, list):
                    found.extend(v for v in value if v is not None)
                elif value is not None:
                    found.append(value)
        else:
            found = [v for path in self.paths for v in get_values(resource, path)]
        if self.param.modifier == "missing":
            return all((not found) == (v == "true") for v in self.param.values)
        kind = self.definition.type
        if kind == "date":
            ranges = _ranges(found)
            return any(date_matches(value, t) for value in self.values for t in ranges)
        if kind == "token":
            codes = _codes(found, self.definition.system)
            return any(
                token_matches(value, system, code)
                for value in self.values
                for system, code in codes
            )
        if kind == "string":
            modifier = self.param.modifier
            return any(
                isinstance(v, str) and string_matches(text, v, modifier)
                for text in self.values
                for v in found
            )
        if kind == "reference":
            refs = [v.get("reference") for v in found if isinstance(v, dict)]
            return any(reference_matches(value, r) for value in self.values for r in refs)
        return False

    def matcher(self) -> Callable[[Json], bool]:
        """``passes``, specialised where that is common and simple: a date or token parameter
        on one top-level element holding a string (an Appointment's ``start``, a Slot's
        ``status``). Loops, not ``any()``: these run for every record of a search."""
        general = self.passes
        kind = self.definition.type
        if (
            kind not in ("date", "token")
            or self.param.modifier == "missing"
            or self.plain is None
            or len(self.plain) != 1
        ):
            return general
        (name,) = self.plain
        values = self.values
        if kind == "token":
            system = self.definition.system

            def token_passes(resource: Json) -> bool:
                value = resource.get(name)
                if type(value) is not str:
                    return general(resource)
                for param in values:  # noqa: SIM110
                    if token_matches(param, system, value):
                        return True
                return False

            return token_passes

        def date_passes(resource: Json) -> bool:
            value = resource.get(name)
            if type(value) is not str:
                return general(resource)
            target = range_or_none(value)  # value_range; bad data matches nothing
            if target is None:
                return False
            for param in values:  # noqa: SIM110
                if date_matches(param, target):
                    return True
            return False

        return date_passes


def _parse(definition: SearchParamDef, param: SearchParam, value: str) -> Any:
    if param.modifier == "missing":
        return value
    kind = definition.type
    if kind == "string":
        return unescape(value)
    if kind == "token":
        return parse_token(value)
    if kind == "date":
        return parse_date_param(value)
    if kind == "reference":
        return parse_reference(
            value, allowed_types=tuple(definition.target), type_hint=_type_hint(param, definition)
        )
    return value


def _checks(table: Table, req: SearchRequest, only: Collection[str] | None) -> list[_Check]:
    checks = []
    for param in req.params:
        definition = table.search_params.get(param.name)
        if definition is None or not definition.local:
            continue
        if only is not None and param.name not in only:
            continue
        values = tuple(_parse(definition, param, v) for v in param.values)
        paths = tuple(parse_path(p) for p in definition.paths)
        plain = None
        if all(len(p) == 1 and not p[0].is_list for p in paths):
            plain = tuple(p[0].name for p in paths)
        checks.append(_Check(definition, param, paths, values, plain))
    return checks


def compile_filter(
    table: Table,
    req: SearchRequest,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
) -> Callable[[Json], bool]:
    """``matches`` with every value parsed once: for checking many resources of one search.

    ``only``: just these parameters (the ones a prefilter decides); ``skip``: all but
    these (the ones a prefilter already decided).
    """
    return _all_of([c for c in _checks(table, req, only) if c.param.name not in skip])


def _all_of(found: list[_Check]) -> Callable[[Json], bool]:
    checks = [c.matcher() for c in found]
    if not checks:
        return lambda resource: True
    if len(checks) == 1:
        return checks[0]

    def passes_all(resource: Json) -> bool:
        for check in checks:  # noqa: SIM110 (a loop: once per record of a search)
            if not check(resource):
                return False
        return True

    return passes_all


@dataclass(frozen=True)
class _Decision:
    """One prefiltered parameter: the fields producing its elements (compiled: ``read``),
    the athena fields they read (``key`` gets their values and types), its check, and the answers
    given so far by those raw values."""

    fields: tuple[Field_, ...]
    names: tuple[str, ...]
    check: Callable[[Json], bool]
    read: Reader
    key: Callable[[Json], tuple[Any, ...]]
    seen: dict[tuple[Any, ...], bool] = dc_field(default_factory=dict)


@dataclass(frozen=True)
class Prefilter:
    """The parameters a route decides on athena's raw record (``prefilter`` in the table).

    For each parameter only the source fields that produce its elements are mapped (the
    same fields and transforms the whole mapping applies, so a record passes exactly
    when its full rendering would match); ``passes`` takes the record after
    ``add_context``. Transforms are pure, so each answer depends only on the raw values
    those fields read: records sharing them (a day's appointment times across
    departments) are decided once.
    """

    decisions: tuple[_Decision, ...]
    decides: frozenset[str]  # the search parameters decided here
    practice: str
    codes: Codes

    def passes(self, record: Json) -> bool:
        for decision in self.decisions:
            key = decision.key(record)
            try:
                known = decision.seen.get(key)
                hashable = True
            except TypeError:  # an unhashable raw value (a list): decided without the memo
                known, hashable = None, False
            if known is None:
                partial: Json = {}
                decision.read(record, partial)
                known = decision.check(partial)
                if hashable:
                    decision.seen[key] = known
            if not known:
                return False
        return True


def prefilter_of(
    table: Table, route: Route, req: SearchRequest, practice: str, codes: Codes
) -> Prefilter | None:
    """The route's prefilter for this request, None when it decides none of its parameters."""
    return search_filters(table, route, req, practice, codes)[0]


def search_filters(
    table: Table, route: Route, req: SearchRequest, practice: str, codes: Codes
) -> tuple[Prefilter | None, Callable[[Json], bool]]:
    """``prefilter_of`` and the ``compile_filter`` of what it leaves to the mapped resource,
    with each value parsed once."""
    checks = _checks(table, req, None)
    decides = frozenset(
        p.name for p in req.params if p.name in route.prefilter and p.modifier != "missing"
    )
    rest = _all_of([c for c in checks if c.param.name not in decides])
    if not decides:
        return None, rest
    decisions = []
    for name in sorted(decides):
        fields, names = _decision_fields(table, route.source, name)
        check = _all_of([c for c in checks if c.param.name == name])
        read = reader_of(fields, practice, codes)
        decisions.append(_Decision(fields, names, check, read, getter_of(names)))
    return Prefilter(tuple(decisions), decides, practice, codes), rest


# (table, source, parameter) -> the fields a decision maps and the athena names they read;
# keyed by the table's id, each entry holding its table (so the id stays its own)
_DECISION_FIELDS: dict[tuple[int, str, str], tuple[Table, tuple[Field_, ...], tuple[str, ...]]] = {}


def _decision_fields(
    table: Table, source: str, name: str
) -> tuple[tuple[Field_, ...], tuple[str, ...]]:
    key = (id(table), source, name)
    entry = _DECISION_FIELDS.get(key)
    if entry is not None and entry[0] is table:
        return entry[1], entry[2]
    tops = {parse_path(path)[0].name for path in table.search_params[name].paths}
    fields = tuple(
        f
        for f in table.sources[source].fields
        if f.direction != "write" and parse_path(f.fhir)[0].name in tops
    )
    athena = (n for f in fields for n in (f.athena if isinstance(f.athena, list) else [f.athena]))
    names = tuple(dict.fromkeys(athena))
    if len(_DECISION_FIELDS) >= MAX_READERS:
        _DECISION_FIELDS.clear()
    _DECISION_FIELDS[key] = (table, fields, names)
    return fields, names


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
