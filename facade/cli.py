"""``athena-facade``: serve (facade + embedded emulator), emulator (alone)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn


def _serve(args: argparse.Namespace) -> int:
    from facade.api.app import create_app
    from facade.settings import Settings

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    emulator = None
    if settings.environment == "embedded" and not settings.athena_base_url:
        from emulator.app import create_app as create_emulator
        from emulator.server import ServerThread

        emulator = ServerThread(create_emulator(), port=settings.emulator_port)
        upstream = emulator.start()
        settings = settings.model_copy(update={"athena_base_url": upstream})
        logging.getLogger("facade").info("embedded athenahealth emulator at %s", upstream)
    print(f"FHIR base: {settings.fhir_base}", flush=True)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=args.log_level,
            access_log=False,
        )
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from pathlib import Path

    from emulator.config import EmulatorConfig
    from emulator.faults import FaultPlan
    from emulator.server import serve_forever

    config = EmulatorConfig()
    plan = config.faults
    if args.faults_file:
        plan = FaultPlan.model_validate_json(Path(args.faults_file).read_text())
    if args.latency_ms is not None:
        plan = plan.model_copy(update={"latency_ms": args.latency_ms})
    if args.api_rps is not None:
        config = config.model_copy(update={"api_requests_per_second": args.api_rps})
    serve_forever(args.host, args.port, config.model_copy(update={"faults": plan}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="athena-facade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the FHIR facade (with the embedded emulator)")
    serve.add_argument("--host", default=None, help="bind address (FACADE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (FACADE_PORT, default 8080)")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)
    emu = sub.add_parser("emulator", help="run the athenahealth emulator alone")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=9090)
    emu.add_argument("--latency-ms", type=float, default=None, help="added latency per request")
    emu.add_argument("--faults-file", default=None, help="a FaultPlan as JSON (emulator/faults.py)")
    emu.add_argument("--api-rps", type=int, default=None, help="API requests per second per client")
    emu.set_defaults(run=_emulator)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
