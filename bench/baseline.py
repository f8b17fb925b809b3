"""The P1 baseline: a bare FastAPI route returning the same bytes, on the same server stack.

Served by the same server and worker count as the facade under test, without
authentication, mapping or caching, so the ratio isolates what the facade adds.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response


def create_app() -> FastAPI:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/fhir/r4/Patient/{rid}")
    async def read(rid: str) -> Response:
        return Response(body, media_type="application/fhir+json")

    return app
