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
    from emulator.config import EmulatorConfig
    from emulator.server import serve_forever

    serve_forever(args.host, args.port, EmulatorConfig())
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
    emu.set_defaults(run=_emulator)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
