"""The ``Subscription`` entry of the CapabilityStatement (Subscriptions Backport IG 1.1.0,
``backport-subscription-server-r4``): the backport profile, read/create/update/delete and
search, ``$status`` and ``$events``, and one ``capabilitystatement-subscriptiontopic-canonical``
extension per topic the server implements (Inferno's topic discovery reads them).
"""

from __future__ import annotations

import copy
from typing import Any

IG = "http://hl7.org/fhir/uv/subscriptions-backport"
SERVER = f"{IG}/CapabilityStatement/backport-subscription-server-r4"
TOPIC_CANONICAL = f"{IG}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"


def subscription_resource(topics: list[tuple[str, str]]) -> dict[str, Any]:
    """``topics``: (canonical, title) of every topic Subscriptions may name."""
    return {
        "extension": [
            {"url": TOPIC_CANONICAL, "valueCanonical": url, "id": url.rsplit("/", 1)[-1]}
            for url, _ in topics
        ],
        "type": "Subscription",
        "profile": "http://hl7.org/fhir/StructureDefinition/Subscription",
        "supportedProfile": [f"{IG}/StructureDefinition/backport-subscription|1.1.0"],
        "documentation": "Topic-based Subscriptions (R5 backport on R4), rest-hook with signed "
        "deliveries (Standard Webhooks). Topics: " + "; ".join(f"{t} ({u})" for u, t in topics),
        "interaction": [{"code": c} for c in ("read", "create", "update", "delete", "search-type")],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [
            {
                "name": "status",
                "definition": "http://hl7.org/fhir/SearchParameter/Subscription-status",
                "type": "token",
            },
            {
                "name": "url",
                "definition": "http://hl7.org/fhir/SearchParameter/Subscription-url",
                "type": "uri",
            },
            {
                "name": "topic",
                "definition": f"{IG}/SearchParameter/Subscription-topic",
                "type": "uri",
            },
        ],
        "operation": [
            {
                "name": "status",
                "definition": f"{IG}/OperationDefinition/backport-subscription-status",
            },
            {
                "name": "events",
                "definition": f"{IG}/OperationDefinition/backport-subscription-events",
            },
        ],
    }


def with_subscriptions(statement: dict[str, Any], topics: list[tuple[str, str]]) -> dict[str, Any]:
    """The statement with the Subscription entry added and the backport server instantiated."""
    out = copy.deepcopy(statement)
    rest = out["rest"][0]
    rest["resource"] = sorted(
        [*rest["resource"], subscription_resource(topics)], key=lambda r: str(r["type"])
    )
    out["instantiates"] = [*out.get("instantiates", []), SERVER]
    return out
