"""``athena-facade``: serve (facade + embedded emulator), mcp (MCP over stdio), emulator (alone),
bench, conformance, clients, keys, audit, vault, cluster, sync (warehouse)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from facade.logconfig import configure, logging_config

APP_FACTORY = "facade.api.app:create_serving_app"


def _embedded_emulator(settings: Any) -> Any:
    """In embedded mode without an upstream URL: the emulator, started in this process
    (its URL exported as ``FACADE_ATHENA_BASE_URL``); otherwise None."""
    if settings.environment != "embedded" or settings.athena_base_url:
        return None
    from emulator.app import create_app as create_emulator
    from emulator.server import ServerThread

    emulator = ServerThread(create_emulator(), port=settings.emulator_port)
    upstream = emulator.start()
    os.environ["FACADE_ATHENA_BASE_URL"] = upstream
    logging.getLogger("facade").info("embedded athenahealth emulator at %s", upstream)
    return emulator


def _serve(args: argparse.Namespace) -> int:
    """Run the facade; in embedded mode start the emulator first (in this process).

    Workers are separate processes that build the app from the environment, so
    every override is exported as ``FACADE_*`` before they start, and the
    data directory's state (keys, SQLite files) is created once here, not raced by the
    workers.
    """
    from facade.engine.runtime import prepare_state
    from facade.settings import Settings

    if args.host:
        os.environ["FACADE_HOST"] = args.host
    if args.port:
        os.environ["FACADE_PORT"] = str(args.port)
    if args.workers:
        os.environ["FACADE_WORKERS"] = str(args.workers)
    if args.server:
        os.environ["FACADE_SERVER"] = args.server
    settings = Settings()
    emulator = _embedded_emulator(settings)
    prepare_state(settings)
    print(f"FHIR base: {settings.fhir_base}", flush=True)
    # one logging configuration, applied by the server in every worker too
    log_config = logging_config(args.log_level, settings.log_format, access=settings.access_log)
    try:
        if settings.server == "granian":
            from granian import Granian
            from granian.constants import Interfaces
            from granian.log import LogLevels

            Granian(
                APP_FACTORY,
                address=settings.host,
                port=settings.port,
                interface=Interfaces.ASGI,
                workers=settings.workers,
                factory=True,
                log_access=False,
                log_level=LogLevels(args.log_level.lower()),
                log_dictconfig=log_config,
            ).serve()
        else:
            from facade import serving

            options: dict[str, Any] = {
                "log_level": args.log_level,
                "log_config": log_config,
                "access_log": False,  # the facade's own access log (facade/api/accesslog.py)
                "server_header": False,  # no banner (facade/api/headers.py); Date stays
            }
            if settings.workers > 1:  # one SO_REUSEPORT socket per worker (facade/serving.py)
                serving.run(
                    APP_FACTORY,
                    host=settings.host,
                    port=settings.port,
                    workers=settings.workers,
                    **options,
                )
            else:
                serving.run_one(APP_FACTORY, host=settings.host, port=settings.port, **options)
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


def _mcp(args: argparse.Namespace) -> int:
    """MCP over stdio for a desktop agent (facade/mcp/stdio.py): the engine in this process,
    the embedded emulator in embedded mode (as ``serve``), stdout reserved for MCP."""
    import asyncio

    from facade.engine.runtime import prepare_state
    from facade.errors import Unauthorized
    from facade.mcp.stdio import ClientCredentials, Credential, StaticToken, serve
    from facade.settings import DEV_CLIENT_ID, Settings

    env = os.environ.get
    token = args.token or env("FACADE_MCP_TOKEN")
    client_id = args.client_id or env("FACADE_MCP_CLIENT_ID")
    secret = args.client_secret or env("FACADE_MCP_CLIENT_SECRET")
    token_url = args.token_url or env("FACADE_MCP_TOKEN_URL")
    scope = args.scope or env("FACADE_MCP_SCOPE") or "system/*.rs"
    settings = Settings()
    credential: Credential
    if token:
        credential = StaticToken(token)
    elif client_id:
        if not secret:
            print("--client-id needs --client-secret", file=sys.stderr)
            return 2
        credential = ClientCredentials(client_id, secret, scope, token_url)
    elif settings.environment == "embedded" and not token_url:
        secret = settings.dev_client_secret.get_secret_value()
        credential = ClientCredentials(DEV_CLIENT_ID, secret, scope)
    else:
        print("give --token, or --client-id and --client-secret", file=sys.stderr)
        return 2
    emulator = _embedded_emulator(settings)
    settings = Settings()  # with the embedded emulator's URL
    prepare_state(settings)
    try:
        asyncio.run(serve(settings, credential))
    except Unauthorized as exc:
        print(f"not authorized: {exc.diagnostics}", file=sys.stderr)
        return 1
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
    config = config.model_copy(update={"faults": plan})
    serve_forever(args.host, args.port, config, log_level=args.log_level)
    return 0


def _with_upstream(args: argparse.Namespace, command: Any) -> int:
    """Run ``command(settings, args)`` against the configured athena (embedded: the emulator)."""
    from facade.settings import Settings

    emulator = _embedded_emulator(Settings())
    try:
        result: int = command(Settings(), args)
        return result
    finally:
        if emulator is not None:
            emulator.stop()


def _drift(args: argparse.Namespace) -> int:
    from pathlib import Path

    from facade.drift.run import run

    path = Path(args.contract) if args.contract else None
    return _with_upstream(args, lambda s, a: run(s, record=a.record, as_json=a.json, path=path))


def _doctor(args: argparse.Namespace) -> int:
    from facade.doctor import run

    return _with_upstream(args, lambda s, a: run(s))


def _bench(args: argparse.Namespace) -> int:
    from bench.run import run

    return run(quick=args.quick, latency_ms=args.latency_ms, out_dir=args.out)


def _conformance(args: argparse.Namespace) -> int:
    from conformance import report
    from conformance.client import client_credentials_token
    from conformance.suite import failed, run_suite

    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs carry patient ids
    token = args.token
    if token is None and args.client_id:
        if not args.client_secret:
            print("--client-id needs --client-secret", file=sys.stderr)
            return 2
        token = client_credentials_token(args.base, args.client_id, args.client_secret, args.scope)
    results = run_suite(args.base, token, args.patient)
    print(report.as_json(results) if args.json else report.table(results))
    return 1 if failed(results) else 0


def _clients(args: argparse.Namespace) -> int:
    import json
    import secrets

    from pydantic import ValidationError

    from facade.audit.runtime import record_operator_event
    from facade.auth.clients import Client, hash_secret
    from facade.auth.factory import clients_file
    from facade.settings import Settings

    registry = clients_file(Settings())
    if args.action == "list":
        for client in registry.all():
            source = "dynamic" if client.dynamic else "operator"
            print(
                f"{client.client_id}\t{client.kind}\t{' '.join(client.grant_types)}\t"
                f"{client.scope}\t{source}"
            )
        return 0
    if args.action == "remove":
        if not registry.remove(args.client_id):
            print(f"no such client: {args.client_id}", file=sys.stderr)
            return 1
        record_operator_event(
            Settings(), "register", True, client_id=args.client_id, detail="clients remove"
        )
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
    try:
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
                "launch_uris": args.launch_url or [],
            }
        )
    except ValidationError as exc:
        print(f"invalid client: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    registry.add(client)
    record_operator_event(
        Settings(), "register", True, client_id=client.client_id, detail="clients add"
    )
    print(f"added {client.client_id} ({client.kind}) to {registry.path}")
    if secret and not args.secret:
        print(f"client secret (shown once): {secret}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from facade.auth.keys import KeyRing
    from facade.settings import Settings

    path = Settings().jwks_path
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
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (FACADE_WORKERS, default 2)"
    )
    serve.add_argument(
        "--server", choices=["granian", "uvicorn"], default=None, help="FACADE_SERVER (uvicorn)"
    )
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)
    mcp = sub.add_parser(
        "mcp", help="MCP server over stdio for desktop agents (engine and emulator in-process)"
    )
    mcp.add_argument("--token", default=None, help="facade access token (FACADE_MCP_TOKEN)")
    mcp.add_argument(
        "--client-id", default=None, help="client_credentials client (FACADE_MCP_CLIENT_ID)"
    )
    mcp.add_argument("--client-secret", default=None, help="(FACADE_MCP_CLIENT_SECRET)")
    mcp.add_argument(
        "--token-url",
        default=None,
        help="token endpoint of a running facade (FACADE_MCP_TOKEN_URL); default: in-process",
    )
    mcp.add_argument(
        "--scope", default=None, help="scope for the client (FACADE_MCP_SCOPE, system/*.rs)"
    )
    mcp.add_argument("--log-level", default="info")
    mcp.set_defaults(run=_mcp)
    emu = sub.add_parser("emulator", help="run the athenahealth emulator alone")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=9090)
    emu.add_argument("--latency-ms", type=float, default=None, help="added latency per request")
    emu.add_argument("--faults-file", default=None, help="a FaultPlan as JSON (emulator/faults.py)")
    emu.add_argument("--api-rps", type=int, default=None, help="API requests per second per client")
    emu.add_argument("--log-level", default="info")
    emu.set_defaults(run=_emulator)
    drift = sub.add_parser(
        "drift", help="compare athena's answers with the recorded contracts (contracts/)"
    )
    drift.add_argument("--record", action="store_true", help="write the contracts instead")
    drift.add_argument("--json", action="store_true", help="the report as JSON")
    drift.add_argument("--contract", default=None, help="a contract file other than contracts/")
    drift.set_defaults(run=_drift)
    doctor = sub.add_parser(
        "doctor", help="check configuration, credentials and athena's reachability"
    )
    doctor.set_defaults(run=_doctor)
    bench = sub.add_parser("bench", help="run the benchmark and record bench/RESULTS.md")
    bench.add_argument("--quick", action="store_true", help="short runs that only check it works")
    bench.add_argument("--latency-ms", type=float, default=50.0, help="emulated athena latency")
    bench.add_argument("--out", default="bench", help="where RESULTS.md and the plot go")
    bench.set_defaults(run=_bench)

    conf = sub.add_parser(
        "conformance", help="run the US Core conformance suite against any FHIR base URL"
    )
    conf.add_argument("--base", required=True, help="FHIR base URL, e.g. http://host/fhir/r4")
    conf.add_argument("--token", default=None, help="bearer access token")
    conf.add_argument(
        "--client-id", default=None, help="client_credentials at the SMART token_endpoint"
    )
    conf.add_argument("--client-secret", default=None)
    conf.add_argument("--scope", default="system/*.rs", help="scope for --client-id")
    conf.add_argument(
        "--patient",
        action="append",
        default=None,
        help="patient id (repeat; default: the sandbox patients a-195900.E-60178..60184)",
    )
    conf.add_argument("--json", action="store_true", help="results as JSON")
    conf.set_defaults(run=_conformance)

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
    add.add_argument(
        "--launch-url",
        action="append",
        help="the app's SMART launch URL, a target of the EHR launcher (repeat for several)",
    )
    clients.set_defaults(run=_clients)

    keys = sub.add_parser("keys", help="id_token signing keys ({FACADE_DATA_DIR}/jwks.json)")
    ksub = keys.add_subparsers(dest="action", required=True)
    ksub.add_parser("list", help="list keys (the first signs)")
    ksub.add_parser("rotate", help="new active key; older public keys stay published")
    keys.set_defaults(run=_keys)
    from facade.audit.cli import register as register_audit

    register_audit(sub)
    from facade.vault.cli import register as register_vault

    register_vault(sub)
    from facade.cluster.command import add_parser as add_cluster

    add_cluster(sub)  # athena-facade cluster (README "Scale-out")
    from facade.sync.command import add_parser as add_sync

    add_sync(sub)
    args = parser.parse_args(argv)
    level = (
        getattr(logging, str(args.log_level).upper(), logging.INFO)
        if "log_level" in args
        else logging.INFO
    )
    configure(logging.getLevelName(level), os.environ.get("FACADE_LOG_FORMAT", "json").lower())
    if args.command in _NEEDS_SETTINGS:
        from facade.config_check import problems, report

        found = problems()
        if found:
            print(report(found), file=sys.stderr)
            return 2
    result: int = args.run(args)
    return result


_NEEDS_SETTINGS = {"serve", "mcp", "drift", "doctor", "clients", "keys"}


if __name__ == "__main__":
    sys.exit(main())
