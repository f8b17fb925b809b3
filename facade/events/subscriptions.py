"""The R4 backport ``Subscription`` (Subscriptions R5 Backport IG 1.1.0): create, read,
search, update, delete, ``$status`` and ``$events``, called with an ``AuthContext``.

A Subscription belongs to the client and end user that created it (``client_id`` and
``sub`` of the token) and to that token's grant: it only ever carries events and
resources that authorization may read (its scopes, practices and patient compartment,
stored with it and checked again at delivery), and a revoked grant turns it ``off``.

Accepted (``components.md`` "SHOULD validate"): a ``criteria`` naming a topic of
``mappings/events/topics.yaml``; ``_criteria`` filters in the topic resource's search
syntax (``Appointment?patient=Patient/…``, ``patient=…``, ``Appointment.location=…``)
over the parameters its table matches locally, combined with AND; channel ``rest-hook``
to an endpoint :func:`facade.events.endpoint.check_endpoint` allows; payload
``application/fhir+json`` or ``application/json`` with content ``empty``, ``id-only``
(the default when absent) or ``full-resource``; ``channel.header`` lines (sent verbatim);
``heartbeat-period``, ``timeout`` (capped at ``FACADE_EVENTS_DELIVERY_TIMEOUT_SECONDS``,
the stored value says so) and ``max-count``. Anything else is a 400/422 OperationOutcome.
A new Subscription is ``requested``; the handshake makes it ``active`` (or ``error``).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.errors import Forbidden, InvalidRequest, NotFound, Unprocessable
from facade.events import notification
from facade.events.endpoint import EndpointRefused, check_endpoint
from facade.mapping.filter import validate_request
from facade.search import SearchRequest, parse_query
from facade.store.events import SubscriptionRow

if TYPE_CHECKING:
    from facade.events.runtime import EventEngine

Json = dict[str, Any]
IG = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PROFILE = IG + "backport-subscription"
FILTER = IG + "backport-filter-criteria"
CONTENT = IG + "backport-payload-content"
HEARTBEAT = IG + "backport-heartbeat-period"
TIMEOUT = IG + "backport-timeout"
MAX_COUNT = IG + "backport-max-count"
SECRET = "urn:athena-fhir-facade:extension:webhook-secret"  # README "Events"
CONTENTS = ("empty", "id-only", "full-resource")
PAYLOADS = ("application/fhir+json", "application/json")
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}):[ \t]*([\x20-\x7e]{0,1024})$")
RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "transfer-encoding",
    "connection",
}


# -- ownership -----------------------------------------------------------------------


def owner_of(auth: AuthContext) -> Json:
    """What a delivery re-checks: the creator's authorization, without the token."""
    return {
        "client_id": auth.client_id,
        "scope": str(auth.scopes),
        "practices": list(auth.practices),
        "patient": auth.patient,
        "encounter": auth.encounter,
        "fhir_user": auth.fhir_user,
        "subject": auth.subject,
        "grant_id": auth.grant_id,
    }


def auth_of(row: SubscriptionRow) -> AuthContext:
    a = row.auth
    return AuthContext(
        client_id=str(a["client_id"]),
        scopes=ScopeSet.parse(str(a["scope"])),
        practices=tuple(a["practices"]),
        patient=a.get("patient"),
        encounter=a.get("encounter"),
        fhir_user=a.get("fhir_user"),
        subject=a.get("subject"),
        grant_id=a.get("grant_id"),
    )


def owns(auth: AuthContext, row: SubscriptionRow) -> bool:
    return row.client_id == auth.client_id and row.subject == auth.subject


# -- the resource ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A validated Subscription: the resource as stored and what delivery needs."""

    resource: Json
    topic: str
    filters: tuple[SearchRequest, ...]
    heartbeat: int | None


def _ext(node: Json, url: str) -> Json | None:
    return next((e for e in node.get("extension", []) or [] if e.get("url") == url), None)


def _int_ext(node: Json, url: str, kind: str, where: str, minimum: int) -> int | None:
    ext = _ext(node, url)
    if ext is None:
        return None
    value = ext.get(kind)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidRequest(
            f"{where} must be an integer of at least {minimum}", expression=(where,)
        )
    return value


def parse_filter(engine: EventEngine, resource_type: str, text: Any, where: str) -> SearchRequest:
    """``Type?a=b&c=d``, ``a=b`` or ``Type.a=b`` over the table's locally matched parameters."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("A filter criteria is a non-empty string", expression=(where,))
    raw = text.strip()
    head, sep, query = raw.partition("?")
    if sep:
        if head != resource_type:
            raise Unprocessable(
                f"The filter must be on {resource_type}, the topic's resource", expression=(where,)
            )
    elif raw.startswith(f"{resource_type}."):
        query = raw.removeprefix(f"{resource_type}.")
    else:
        query = raw
    pairs = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not eq or not name or not value:
            raise InvalidRequest(f"Malformed filter {raw!r}", expression=(where,))
        from urllib.parse import unquote

        pairs.append((unquote(name), unquote(value)))
    table = engine.services.mappings.table(resource_type)
    assert table is not None
    try:
        req = validate_request(table, parse_query(resource_type, pairs), strict=True)
    except InvalidRequest as exc:
        raise Unprocessable(f"Unsupported filter: {exc.diagnostics}", expression=(where,)) from exc
    for param in req.params:
        definition = table.search_params.get(param.name)
        if definition is None or not definition.local:
            raise Unprocessable(
                f"The filter parameter {param.name} is not supported", expression=(where,)
            )
    return req


def validate(engine: EventEngine, auth: AuthContext, body: Any) -> Spec:
    settings = engine.settings
    if not isinstance(body, dict) or body.get("resourceType") != "Subscription":
        raise InvalidRequest(
            "The body must be a Subscription resource", expression=("resourceType",)
        )
    resource: Json = copy.deepcopy(body)
    topic = engine.catalog.topics.get(str(resource.get("criteria") or ""))
    if topic is None:
        raise Unprocessable(
            "Subscription.criteria must be one of this server's topic canonicals (see /metadata)",
            expression=("Subscription.criteria",),
        )
    table = engine.services.mappings.table(topic.resource)
    assert table is not None
    auth.require(topic.resource, "r")
    if not table.shared:
        patient = policy.compartment_patient(auth, topic.resource, "r")
        if patient is not None and table.compartment is None:
            raise Forbidden(f"{topic.resource} is outside the patient compartment")
    filters = tuple(
        parse_filter(engine, topic.resource, ext.get("valueString"), "Subscription.criteria")
        for ext in (resource.get("_criteria") or {}).get("extension", []) or []
        if ext.get("url") == FILTER
    )
    channel = resource.get("channel")
    if not isinstance(channel, dict):
        raise InvalidRequest(
            "Subscription.channel is required", expression=("Subscription.channel",)
        )
    if channel.get("type") != "rest-hook" or _ext(channel, IG + "backport-channel-type"):
        raise Unprocessable(
            "Only the rest-hook channel is supported", expression=("Subscription.channel.type",)
        )
    try:
        check_endpoint(
            channel.get("endpoint"),
            allow_loopback=settings.events_loopback_allowed,
            private_hosts=settings.events_allow_private_hosts,
        )
    except EndpointRefused as exc:
        raise Unprocessable(str(exc), expression=("Subscription.channel.endpoint",)) from None
    payload = str(channel.get("payload") or "")
    if payload.split(";")[0].strip().lower() not in PAYLOADS:
        raise Unprocessable(
            "channel.payload must be application/fhir+json or application/json",
            expression=("Subscription.channel.payload",),
        )
    payload_node = channel.setdefault("_payload", {})
    content_ext = _ext(payload_node, CONTENT)
    if content_ext is None:
        payload_node.setdefault("extension", []).append({"url": CONTENT, "valueCode": "id-only"})
    elif content_ext.get("valueCode") not in CONTENTS:
        raise Unprocessable(
            "The payload content must be empty, id-only or full-resource",
            expression=("Subscription.channel.payload",),
        )
    headers = channel.get("header") or []
    if not isinstance(headers, list) or len(headers) > 20:
        raise InvalidRequest("channel.header is a list of at most 20 lines")
    for line in headers:
        match = _HEADER.match(line) if isinstance(line, str) else None
        if match is None or match.group(1).lower() in RESERVED_HEADERS:
            raise InvalidRequest(
                "Each channel.header is 'Name: value' and may not set a reserved header",
                expression=("Subscription.channel.header",),
            )
    heartbeat = _int_ext(
        channel, HEARTBEAT, "valueUnsignedInt", "Subscription.channel.extension", 1
    )
    if heartbeat is not None and heartbeat < settings.events_heartbeat_min_seconds:
        raise Unprocessable(
            f"heartbeat-period must be at least {settings.events_heartbeat_min_seconds} s",
            expression=("Subscription.channel.extension",),
        )
    timeout = _int_ext(channel, TIMEOUT, "valueUnsignedInt", "Subscription.channel.extension", 1)
    cap = int(settings.events_delivery_timeout_seconds)
    if timeout is not None and timeout > cap:
        ext = _ext(channel, TIMEOUT)
        assert ext is not None
        ext["valueUnsignedInt"] = cap  # accepted with the server's limit (IG: modifications)
    _int_ext(channel, MAX_COUNT, "valuePositiveInt", "Subscription.channel.extension", 1)
    for key in ("id", "meta", "status", "error"):
        resource.pop(key, None)
    resource["extension"] = [e for e in resource.get("extension", []) if e.get("url") != SECRET]
    if not resource["extension"]:
        resource.pop("extension")
    return Spec(resource, topic.url, filters, heartbeat)


def render(engine: EventEngine, row: SubscriptionRow, *, secret: bool = False) -> Json:
    resource: Json = {
        "resourceType": "Subscription",
        "id": row.id,
        "meta": {"profile": [PROFILE]},
        **{k: v for k, v in row.resource.items() if k not in ("resourceType", "id", "meta")},
        "status": row.status,
    }
    if row.error:
        resource["error"] = row.error
    if secret:
        resource.setdefault("extension", []).append({"url": SECRET, "valueString": row.secret})
    return resource


def timeout_of(row: SubscriptionRow, cap: float) -> float:
    ext = _ext(row.resource.get("channel", {}), TIMEOUT)
    value = ext.get("valueUnsignedInt") if ext else None
    return min(float(value), cap) if isinstance(value, int) else cap


def heartbeat_of(row: SubscriptionRow) -> int | None:
    ext = _ext(row.resource.get("channel", {}), HEARTBEAT)
    value = ext.get("valueUnsignedInt") if ext else None
    return value if isinstance(value, int) else None


# -- interactions ---------------------------------------------------------------------


async def create(engine: EventEngine, auth: AuthContext, body: Any) -> Json:
    auth.require("Subscription", "c")
    spec = validate(engine, auth, body)
    owned = await engine.store.subscriptions_of(auth.client_id, auth.subject)
    if len(owned) >= engine.settings.events_max_subscriptions_per_client:
        raise Unprocessable("This client has reached its number of Subscriptions")
    sid, secret = secrets.token_hex(12), engine.new_secret()
    row = SubscriptionRow(
        id=sid,
        client_id=auth.client_id,
        subject=auth.subject,
        grant_id=auth.grant_id,
        auth=owner_of(auth),
        resource=spec.resource,
        topic=spec.topic,
        status="requested",
        error=None,
        secret=engine.seal_secret(secret, sid),
        events_count=0,
        heartbeat_due=None,
    )
    await engine.store.add_subscription(row, time.time())
    await engine.handshake(row)
    return render(engine, dataclasses.replace(row, secret=secret), secret=True)


async def owned(engine: EventEngine, auth: AuthContext, sid: str, letter: str) -> SubscriptionRow:
    auth.require("Subscription", letter)
    row = await engine.store.subscription(sid) if re.fullmatch(r"[0-9a-f]{24}", sid) else None
    if row is None or not owns(auth, row):
        raise NotFound(f"Subscription/{sid} is not known")
    return row


async def read(engine: EventEngine, auth: AuthContext, sid: str) -> Json:
    return render(engine, await owned(engine, auth, sid, "r"))


async def search(engine: EventEngine, auth: AuthContext, items: list[tuple[str, str]]) -> Json:
    auth.require("Subscription", "s")
    rows = await engine.store.subscriptions_of(auth.client_id, auth.subject)
    for name, value in items:
        values = set(value.split(","))
        if name == "status":
            rows = [r for r in rows if r.status in values]
        elif name in ("url", "topic", "criteria"):
            rows = [
                r
                for r in rows
                if (r.topic if name != "url" else r.resource.get("channel", {}).get("endpoint"))
                in values
            ]
        elif name == "_id":
            rows = [r for r in rows if r.id in values]
        elif not name.startswith("_"):
            raise InvalidRequest(
                f"Unknown Subscription search parameter {name}", expression=(name,)
            )
    base = engine.settings.fhir_base
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(rows),
        "link": [{"relation": "self", "url": f"{base}/Subscription"}],
        "entry": [
            {
                "fullUrl": f"{base}/Subscription/{r.id}",
                "resource": render(engine, r),
                "search": {"mode": "match"},
            }
            for r in rows
        ],
    }


async def update(engine: EventEngine, auth: AuthContext, sid: str, body: Any) -> Json:
    """update: the whole Subscription again; ``status`` ``off`` turns it off, ``requested``
    (or ``active``) re-activates it with a new handshake (IG ``errors.md``)."""
    row = await owned(engine, auth, sid, "u")
    if isinstance(body, dict) and body.get("id") not in (None, sid):
        raise InvalidRequest("The resource id must equal the id in the URL", expression=("id",))
    spec = validate(engine, auth, body)
    if spec.topic != row.topic:
        raise Unprocessable(
            "The topic of a Subscription cannot change", expression=("Subscription.criteria",)
        )
    wanted = str(body.get("status") or row.status)
    if wanted not in ("requested", "active", "off", "error"):
        raise InvalidRequest("Unknown status", expression=("Subscription.status",))
    now = time.time()
    if wanted == "off":
        await engine.store.replace_subscription(sid, spec.resource, "off", None, now)
    elif wanted == "error" and row.status == "error":
        await engine.store.replace_subscription(sid, spec.resource, "error", None, now)
    else:
        await engine.store.replace_subscription(sid, spec.resource, "requested", None, now)
        fresh = await engine.store.subscription(sid)
        assert fresh is not None
        await engine.handshake(fresh)
    fresh = await engine.store.subscription(sid)
    assert fresh is not None
    return render(engine, fresh)


async def delete(engine: EventEngine, auth: AuthContext, sid: str) -> None:
    row = await owned(engine, auth, sid, "d")
    await engine.store.delete_subscription(row.id)


async def status(
    engine: EventEngine, auth: AuthContext, sid: str | None, items: list[tuple[str, str]]
) -> Json:
    """``$status`` (type or instance level): a searchset of ``query-status`` Parameters."""
    base = engine.settings.fhir_base
    if sid is not None:
        rows = [await owned(engine, auth, sid, "r")]
    else:
        auth.require("Subscription", "r")
        rows = await engine.store.subscriptions_of(auth.client_id, auth.subject)
        ids = {v for n, value in items if n == "id" for v in value.split(",")}
        wanted = {v for n, value in items if n == "status" for v in value.split(",")}
        rows = [
            r
            for r in rows
            if (not ids or r.id in ids or f"Subscription/{r.id}" in ids)
            and (not wanted or r.status in wanted)
        ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(rows),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{secrets.token_hex(16)}",
                "resource": notification.status_parameters(
                    base, r, "query-status", error=r.error if r.status == "error" else None
                ),
                "search": {"mode": "match"},
            }
            for r in rows
        ],
    }


async def events(
    engine: EventEngine, auth: AuthContext, sid: str, items: list[tuple[str, str]]
) -> Json:
    """``$events``: the numbered events ``eventsSinceNumber``..``eventsUntilNumber``
    (inclusive; at most ``FACADE_EVENTS_REPLAY_MAX`` per call) as a ``query-event`` Bundle."""
    row = await owned(engine, auth, sid, "r")
    params = dict(items)

    def number(name: str, default: int) -> int:
        text = params.get(name)
        if text is None:
            return default
        if not text.isdigit():
            raise InvalidRequest(f"{name} must be an event number", expression=(name,))
        return int(text)

    last = number("eventsUntilNumber", row.events_count)
    first = number("eventsSinceNumber", max(1, last - engine.settings.events_replay_max + 1))
    found = await engine.store.notified(row.id, first, last, engine.settings.events_replay_max)
    visible = [(n.number, n.event) for n in found if engine.visible_to(row, n.event)]
    return notification.bundle(
        engine.settings.fhir_base,
        row,
        "query-event",
        time.time(),
        events=visible,
        topics=engine.catalog.topics,
    )
