"""The P1 baseline: a bare FastAPI route returning the same bytes, on the same server stack.

Served by the same server and worker count as the facade under test, without
authentication, mapping or caching, so the ratio isolates what the facade adds. With
uvicorn it runs through the same launcher as ``athena-facade serve`` (one SO_REUSEPORT
socket per worker, facade/serving.py):

    BENCH_BODY_FILE=body.json python -m bench.baseline --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response

from facade import collector
from facade.settings import Settings


def create_app() -> FastAPI:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
    defaults = Settings.model_fields
    # the same garbage-collector settings as a facade worker: P1 compares server stacks
    collector.tune(defaults["gc_young_threshold"].default, freeze=defaults["gc_freeze"].default)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/fhir/r4/Patient/{rid}")
    async def read(rid: str) -> Response:
        return Response(body, media_type="application/fhir+json")

    return app


APP = "bench.baseline:create_app"


def main() -> None:
    from facade import serving

    parser = argparse.ArgumentParser(prog="bench.baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options: dict[str, Any] = {"log_level": "warning", "access_log": False}
    if args.workers > 1:
        serving.run(APP, host="127.0.0.1", port=args.port, workers=args.workers, **options)
    else:
        serving.run_one(APP, host="127.0.0.1", port=args.port, **options)


if __name__ == "__main__":
    main()
