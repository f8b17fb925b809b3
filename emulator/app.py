"""The emulator's ASGI app: one readable route table (API-NOTES section 7).

``create_app(config)`` builds a Starlette app whose ``app.state.emulator`` is
the in-memory :class:`~emulator.world.World`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.routing import Route

from emulator import fhir_api, rest_patients, rest_practice
from emulator.config import EmulatorConfig
from emulator.faults import ADMIN_ROUTES, FaultInjector, FaultState
from emulator.gateway import PUBLIC, V1, Handler, Need, endpoint, fhir
from emulator.oauth import token_endpoint
from emulator.world import World

# (method, path template, what the gateway requires, handler)
ROUTES: list[tuple[str, str, Need, Handler]] = [
    ("POST", "/oauth2/v1/token", PUBLIC, token_endpoint),
    ("GET", "/fhir/r4/metadata", PUBLIC, fhir_api.metadata),
    ("GET", "/fhir/r4/.well-known/smart-configuration", PUBLIC, fhir_api.smart_configuration),
    ("GET", "/fhir/r4/Patient", fhir("Patient", "search"), fhir_api.search_patients),
    ("POST", "/fhir/r4/Patient/_search", fhir("Patient", "search"), fhir_api.search_patients),
    ("GET", "/fhir/r4/Patient/{id}", fhir("Patient", "read"), fhir_api.read_patient),
    ("GET", "/v1/{practiceid}/practiceinfo", V1, rest_practice.practiceinfo),
    ("GET", "/v1/{practiceid}/departments", V1, rest_practice.departments),
    ("GET", "/v1/{practiceid}/departments/{departmentid}", V1, rest_practice.department),
    ("GET", "/v1/{practiceid}/providers", V1, rest_practice.providers),
    ("GET", "/v1/{practiceid}/providers/{providerid}", V1, rest_practice.provider),
    ("GET", "/v1/{practiceid}/patients", V1, rest_patients.list_patients),
    ("POST", "/v1/{practiceid}/patients", V1, rest_patients.create_patient),
    ("GET", "/v1/{practiceid}/patients/enhancedbestmatch", V1, rest_patients.best_match),
    ("GET", "/v1/{practiceid}/patients/{patientid}", V1, rest_patients.read_patient),
    ("PUT", "/v1/{practiceid}/patients/{patientid}", V1, rest_patients.update_patient),
]


def create_app(
    config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time
) -> Starlette:
    """Build the emulator app with a freshly seeded world."""
    config = config or EmulatorConfig()
    routes = [
        Route(path, endpoint(path, need, handler), methods=[method], name=f"{method} {path}")
        for method, path, need, handler in ROUTES
    ]
    app = Starlette(routes=[*routes, *ADMIN_ROUTES])
    app.state.emulator = World(config, clock)
    app.state.faults = FaultState(config.faults)
    app.add_middleware(FaultInjector, state=app.state.faults, world=app.state.emulator)
    return app
