"""``athena-facade audit verify|prune`` (README "Audit trail")."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit trail ({FACADE_DATA_DIR}/audit.sqlite3)")
    asub = audit.add_subparsers(dest="action", required=True)
    asub.add_parser(
        "verify", help="check the hash chain; exit 1 naming every edited or deleted record"
    )
    asub.add_parser("prune", help="delete records older than FACADE_AUDIT_RETENTION_DAYS")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from facade.audit.chain import verify
    from facade.audit.runtime import FILE, chain_key, prune
    from facade.engine.runtime import signing_key
    from facade.settings import Settings
    from facade.store.audit import SqliteAuditStore
    from facade.vault.runtime import resolve

    settings = Settings()
    path = settings.data_dir / FILE
    if args.action == "prune":
        print(f"pruned {prune(settings)} records older than {settings.audit_retention_days} days")
        return 0
    if not path.exists():
        print(f"no audit trail at {path}")
        return 1
    store = SqliteAuditStore(path)
    try:
        verdict = verify(store, chain_key(signing_key(resolve(settings))))
    finally:
        store.close()
    span = f"records {verdict.first}-{verdict.last}" if verdict.records else "no records"
    anchor = f", anchored after record {verdict.anchor[0]} (pruned)" if verdict.anchor else ""
    print(f"{path}: {verdict.records} records ({span}{anchor})")
    for problem in verdict.problems:
        print(f"TAMPERED {problem}")
    if not verdict.ok:
        print(f"FAILED: {len(verdict.problems)} problem(s)")
        return 1
    print(f"OK: the chain verifies; head {verdict.head}")
    return 0
