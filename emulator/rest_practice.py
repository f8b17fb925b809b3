"""Proprietary practice reference data: practiceinfo, departments, providers
(API-NOTES sections 1.2, 3.1, 3.2, 4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import AthenaError, json_response, not_found
from emulator.form import request_params
from emulator.paging import PageRequest, lenient_int, paged

if TYPE_CHECKING:
    from emulator.world import World

ALL_PRACTICES = "1"


def world_of(request: Request) -> World:
    world: World = request.app.state.emulator
    return world


def practice_of(request: Request) -> str:
    """The path's practice id; 404 when the practice is unknown [G on the message]."""
    practiceid = str(request.path_params["practiceid"]).strip()
    if not world_of(request).has_practice(practiceid):
        raise AthenaError(
            404, "The requested ID does not exist.", detailedmessage="Invalid practice ID."
        )
    return practiceid


def page_of(request: Request, params: dict[str, str]) -> PageRequest:
    config = world_of(request).config
    return PageRequest.from_params(params, config.default_limit, config.max_limit)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "y", "yes"}


async def practiceinfo(request: Request) -> Response:
    """``GET /v1/{practiceid}/practiceinfo``; practice ``1`` lists every practice (section 1.2)."""
    world = world_of(request)
    practiceid = str(request.path_params["practiceid"]).strip()
    if practiceid == ALL_PRACTICES:
        rows = [dict(info) for _, info in sorted(world.practices.items())]
    else:
        practiceid = practice_of(request)
        rows = [dict(world.practices[practiceid])]
    params = await request_params(request)
    return json_response(
        paged(
            rows, "practiceinfo", f"/v1/{practiceid}/practiceinfo", params, page_of(request, params)
        )
    )


def _department_view(
    world: World, practiceid: str, department: dict[str, Any], with_providers: bool
) -> dict[str, Any]:
    row = dict(department)
    if with_providers:
        row["providerlist"] = [
            str(pid)
            for pid, depts in sorted(world.provider_departments[practiceid].items())
            if department["departmentid"] in depts
        ]
    return row


async def departments(request: Request) -> Response:
    """``GET /v1/{practiceid}/departments`` (section 3.1)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    with_providers = _truthy(params.get("providerlist"))
    rows = [
        _department_view(world, practiceid, d, with_providers)
        for d in world.departments[practiceid]
    ]
    return json_response(
        paged(
            rows, "departments", f"/v1/{practiceid}/departments", params, page_of(request, params)
        )
    )


async def department(request: Request) -> Response:
    """``GET /v1/{practiceid}/departments/{departmentid}``: a one-element array (section 3.0)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    wanted = str(lenient_int("departmentid", str(request.path_params["departmentid"])))
    for row in world.departments[practiceid]:
        if row["departmentid"] == wanted:
            return json_response(
                [_department_view(world, practiceid, row, _truthy(params.get("providerlist")))]
            )
    raise not_found()


async def providers(request: Request) -> Response:
    """``GET /v1/{practiceid}/providers`` (section 3.2)."""
    world, practiceid = world_of(request), practice_of(request)
    params = await request_params(request)
    rows = [dict(p) for p in world.providers[practiceid]]
    return json_response(
        paged(rows, "providers", f"/v1/{practiceid}/providers", params, page_of(request, params))
    )


async def provider(request: Request) -> Response:
    """``GET /v1/{practiceid}/providers/{providerid}``: a one-element array (section 3.0)."""
    world, practiceid = world_of(request), practice_of(request)
    wanted = lenient_int("providerid", str(request.path_params["providerid"]))
    for row in world.providers[practiceid]:
        if row["providerid"] == wanted:
            return json_response([dict(row)])
    raise not_found()
