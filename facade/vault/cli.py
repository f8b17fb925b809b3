"""``athena-facade vault set|list|rotate|delete|keygen`` (README "Credential vault").

``set`` reads the value from standard input (never from the command line, where shell
history and ``ps`` would keep it). Nothing here prints a secret value.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(sub: Any) -> None:
    vault = sub.add_parser("vault", help="secrets encrypted at rest ({FACADE_DATA_DIR}/vault.json)")
    vsub = vault.add_subparsers(dest="action", required=True)
    put = vsub.add_parser("set", help="store a secret (the value is read from standard input)")
    put.add_argument(
        "name", help="athena_client_secret, signing_secret or events_athena_push_secret"
    )
    vsub.add_parser("list", help="list the secrets and the master key wrapping each (no values)")
    vsub.add_parser(
        "rotate",
        help="re-wrap every secret (and every sealed webhook secret) under the active master key",
    )
    rm = vsub.add_parser("delete", help="forget a secret")
    rm.add_argument("name")
    keygen = vsub.add_parser("keygen", help="print a new master key (kid:base64key)")
    keygen.add_argument("--id", default=f"k{time.strftime('%Y%m%d')}", help="the key id")
    vault.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facade.audit.runtime import record_operator_event
    from facade.settings import Settings
    from facade.vault.keys import VaultError, new_key_text
    from facade.vault.runtime import SECRETS, open_vault

    if args.action == "keygen":
        print(new_key_text(args.id))
        return 0
    settings = Settings()
    try:
        vault = open_vault(settings)
        if vault is None:
            print("no vault: set FACADE_VAULT_MASTER_KEY or FACADE_VAULT_KEY_FILE", file=sys.stderr)
            return 2
        if args.action == "set":
            if args.name not in SECRETS:
                print(
                    f"unknown secret {args.name[:60]!r}; one of {', '.join(SECRETS)}",
                    file=sys.stderr,
                )
                return 2
            value = sys.stdin.readline().rstrip("\r\n")
            if not value:
                print("no value on standard input", file=sys.stderr)
                return 2
            vault.set(args.name, value)
            record_operator_event(settings, "vault", True, detail=f"set {args.name}")
            print(f"{args.name}: stored under master key {vault.provider.active_key_id()}")
            return 0
        if args.action == "delete":
            found = vault.delete(args.name)
            record_operator_event(settings, "vault", found, detail=f"delete {args.name}")
            print(f"{args.name}: {'deleted' if found else 'not in the vault'}")
            return 0 if found else 1
        if args.action == "list":
            for name, kid, updated in vault.list():
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated))
                print(f"{name}\tkey={kid}\tupdated={stamp}")
            return 0
        moved = vault.rotate()
        resealed = _reseal_webhooks(settings, vault)
        record_operator_event(
            settings, "vault", True, detail=f"rotate to {vault.provider.active_key_id()}"
        )
        print(
            f"rotated to master key {vault.provider.active_key_id()}: {moved} secret(s) and "
            f"{resealed} webhook secret(s) re-wrapped"
        )
        return 0
    except VaultError as exc:
        print(f"vault: {exc}", file=sys.stderr)
        return 1


def _reseal_webhooks(settings: Any, vault: Any) -> int:
    from facade.store.events import EventStore

    path = settings.data_dir / "events.sqlite3"
    if not path.exists():
        return 0
    store = EventStore(path)
    try:
        moved = 0
        for sid, stored in store.webhook_secrets():
            new = vault.reseal(stored, f"subscription:{sid}")
            if new is not None and store.replace_webhook_secret(sid, stored, new):
                moved += 1
        return moved
    finally:
        store.close()
