"""The Groups a token may export: one per athenahealth practice it reaches.

athena's bulk export works on Group ``a-1.c-{practiceid}``: every patient of the
practice (EVENTS-BULK-MCP-SCALE §3.5; athena's Group profile ``ah-group``). The facade
serves the same ids, read-only, so a client finds them with ``GET [base]/Group`` and
exports one with ``Group/{id}/$export``. Membership is not enumerated
(``quantity``/``member`` left out): it is the practice's whole patient list.
"""

from __future__ import annotations

from typing import Any

from facade.auth.context import AuthContext
from facade.bulk.native import group_id
from facade.bulk.spec import group_practice

Json = dict[str, Any]


def group_resource(practice: str) -> Json:
    return {
        "resourceType": "Group",
        "id": group_id(practice),
        "identifier": [
            {"system": "urn:athenahealth:athenanet:practice", "value": practice},
        ],
        "active": True,
        "type": "person",
        "actual": True,
        "name": f"All patients of athenahealth practice {practice}",
        "managingEntity": {"reference": f"Organization/a-1.Practice-{practice}"},
    }


def groups(auth: AuthContext) -> list[Json]:
    auth.require("Group", "s")
    return [group_resource(p) for p in auth.practices]


def group(auth: AuthContext, rid: str) -> Json:
    auth.require("Group", "r")
    return group_resource(group_practice(rid, auth))
