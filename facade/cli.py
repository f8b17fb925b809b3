"""``athena-facade``: serve (facade + embedded emulator), emulator (alone), clients, keys."""

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


def _clients(args: argparse.Namespace) -> int:
    import json
    import secrets

    from facade.auth.clients import Client, hash_secret
    from facade.auth.factory import clients_file
    from facade.settings import Settings

    registry = clients_file(Settings())
    if args.action == "list":
        for client in registry.all():
            print(
                f"{client.client_id}\t{client.kind}\t{' '.join(client.grant_types)}\t{client.scope}"
            )
        return 0
    if args.action == "remove":
        if not registry.remove(args.client_id):
            print(f"no such client: {args.client_id}", file=sys.stderr)
            return 1
        return 0
    secret = None
    if args.kind == "confidential-symmetric":
        secret = args.secret or secrets.token_urlsafe(32)
    jwks = json.loads(args.jwks) if args.jwks and args.jwks.lstrip().startswith("{") else None
    if args.jwks and jwks is None:
        with open(args.jwks, encoding="utf-8") as handle:
            jwks = json.load(handle)
    if args.kind == "confidential-asymmetric" and not (jwks or args.jwks_uri):
        print("confidential-asymmetric clients need --jwks or --jwks-uri", file=sys.stderr)
        return 2
    default_grants = (
        ["client_credentials"]
        if args.kind == "confidential-asymmetric" and not args.redirect_uri
        else ["authorization_code", "refresh_token"]
    )
    client = Client.model_validate(
        {
            "client_id": args.client_id,
            "client_name": args.name or args.client_id,
            "kind": args.kind,
            "secret_hash": hash_secret(secret) if secret else None,
            "redirect_uris": args.redirect_uri or [],
            "jwks": jwks,
            "jwks_uri": args.jwks_uri,
            "scope": args.scope,
            "grant_types": args.grant or default_grants,
        }
    )
    registry.add(client)
    print(f"added {client.client_id} ({client.kind}) to {registry.path}")
    if secret and not args.secret:
        print(f"client secret (shown once): {secret}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from facade.auth.keys import KeyRing
    from facade.settings import Settings

    path = Settings().data_dir / "jwks.json"
    ring = KeyRing.rotate(path) if args.action == "rotate" else KeyRing.load_or_create(path)
    for index, key in enumerate(ring.keys):
        print(f"{key.kid}\t{'active' if index == 0 else 'published (verification only)'}")
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

    clients = sub.add_parser(
        "clients", help="manage OAuth clients ({FACADE_DATA_DIR}/clients.json)"
    )
    csub = clients.add_subparsers(dest="action", required=True)
    csub.add_parser("list", help="list registered clients")
    rm = csub.add_parser("remove", help="remove a client")
    rm.add_argument("client_id")
    add = csub.add_parser("add", help="register a client")
    add.add_argument("client_id")
    add.add_argument(
        "--kind",
        required=True,
        choices=["public", "confidential-symmetric", "confidential-asymmetric"],
    )
    add.add_argument("--name", default="")
    add.add_argument("--redirect-uri", action="append", help="repeat for several")
    add.add_argument("--scope", required=True, help="scopes the client may be granted")
    add.add_argument(
        "--grant",
        action="append",
        choices=["authorization_code", "refresh_token", "client_credentials"],
        help="grant types (default: code + refresh; asymmetric without redirect: client_credentials)",
    )
    add.add_argument("--secret", default=None, help="confidential-symmetric (default: generated)")
    add.add_argument("--jwks", default=None, help="JWKS JSON, or a file holding it")
    add.add_argument("--jwks-uri", default=None, help="JWKS URL (https, or loopback http)")
    clients.set_defaults(run=_clients)

    keys = sub.add_parser("keys", help="id_token signing keys ({FACADE_DATA_DIR}/jwks.json)")
    ksub = keys.add_subparsers(dest="action", required=True)
    ksub.add_parser("list", help="list keys (the first signs)")
    ksub.add_parser("rotate", help="new active key; older public keys stay published")
    keys.set_defaults(run=_keys)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
