"""Printing results: an aligned text table, or JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from conformance.result import Result


def table(results: Sequence[Result]) -> str:
    width = max((len(r.name) for r in results), default=10)
    lines = [f"{'check':<{width}}  {'status':<7}  message", "-" * (width + 20)]
    lines += [f"{r.name:<{width}}  {r.status.value:<7}  {r.message}" for r in results]
    counts = Counter(r.status.value for r in results)
    lines.append(
        f"\n{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
    return "\n".join(lines)


def as_json(results: Sequence[Result]) -> str:
    return json.dumps([r.as_json() for r in results], indent=2)
