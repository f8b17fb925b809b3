"""``athena-facade drift``: observe athena, compare with the recorded contracts, report.

Exit 0: no breaking change; 1: breaking changes (listed); 2: athena could not be probed
(unreachable, or the credentials were refused). ``--record`` writes the contracts from
this observation instead (the committed ones come from the embedded emulator).
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from facade.drift import contract
from facade.drift.derive import derive
from facade.drift.probe import Athena, ProbeError, observe
from facade.drift.report import compare
from facade.mapping.loader import load_mappings
from facade.settings import Settings


def athena_for(settings: Settings) -> Athena:
    client_id, secret = settings.upstream_credentials()
    return Athena(
        settings.upstream_base(),
        client_id,
        secret,
        settings.athena_scope,
        settings.default_practice,
        timeout=settings.upstream_read_timeout,
    )


def run(
    settings: Settings, *, record: bool = False, as_json: bool = False, path: Path | None = None
) -> int:
    where = settings.upstream_base()
    try:
        with athena_for(settings) as athena:
            obs = observe(athena)
    except ProbeError as exc:
        print(f"drift: could not probe athena at {where}: {exc}", file=sys.stderr)
        return 2
    if record:
        target = path or contract.default_path()
        source = "emulator" if settings.environment == "embedded" else settings.environment
        document = contract.build(derive(load_mappings()), obs, source)
        target.write_text(contract.dumps(document), encoding="utf-8")
        print(f"recorded {len(document['routes'])} routes to {target}")
        return 0
    recorded = contract.load(path)
    report = compare(recorded, obs)
    if as_json:
        print(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(
            f"athena API drift: {where} ({settings.environment}), practice "
            f"{settings.default_practice}; contracts recorded from "
            f"{recorded.get('recorded_from')}"
        )
        print(report.text())
    return 1 if report.breaking else 0
