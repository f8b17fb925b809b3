"""The hash chain over the audit records, and its verification (``athena-facade audit verify``).

``hash = HMAC-SHA256(key, prev || seq || every column)``, keyed by a key derived from the
server's signing secret: anyone can *see* an edit (the hashes stop matching) and nobody
without the secret can forge a consistent chain after editing one (ONC §170.315(d)(2):
alteration detectable). Retention pruning keeps the chain verifiable through the store's
anchor (the last pruned record's seq and hash).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from facade.store.audit import GENESIS, AuditRow, AuditStore, Hasher


def hasher(key: bytes) -> Hasher:
    """The chain's record hash under ``key``: HMAC-SHA256 (RFC 2104) with the key's inner and
    outer pads hashed once, so a record costs two SHA-256 copies (``hmac.new`` per record
    costs twice that; the writer hashes one record per request)."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def record_hash(prev: str, seq: int, row: AuditRow) -> str:
        text = "\x1f".join(
            (
                prev,
                str(seq),
                row.recorded,
                row.practice,
                row.kind,
                row.action,
                row.outcome,
                row.agent,
                row.patient,
                row.entity,
                row.facts,
            )
        )
        digest = inner.copy()
        digest.update(text.encode("utf-8"))
        final = outer.copy()
        final.update(digest.digest())
        return final.hexdigest()

    return record_hash


@dataclass(frozen=True)
class Verdict:
    records: int
    first: int | None
    last: int | None
    head: str | None
    anchor: tuple[int, str] | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: AuditStore, key: bytes, *, max_problems: int = 50) -> Verdict:
    """Walk the chain from the anchor (or the start) to the head; name every broken record."""
    record_hash = hasher(key)
    anchor = store.anchor()
    expected_seq, expected_prev = (anchor[0] + 1, anchor[1]) if anchor else (1, GENESIS)
    problems: list[str] = []
    count, first, last, last_hash = 0, None, None, None
    for row in store.scan():
        count += 1
        first = row.seq if first is None else first
        if row.seq != expected_seq:
            gap = (
                f"record {expected_seq}"
                if row.seq == expected_seq + 1
                else f"records {expected_seq}-{row.seq - 1}"
            )
            problems.append(f"{gap} deleted (record {row.seq} follows record {expected_seq - 1})")
        elif row.prev != expected_prev:
            problems.append(
                f"record {row.seq}: does not follow record {row.seq - 1} (prev differs)"
            )
        if not hmac.compare_digest(record_hash(row.prev, row.seq, row), row.hash):
            problems.append(f"record {row.seq}: altered (its content does not match its hash)")
        expected_seq, expected_prev = row.seq + 1, row.hash
        last, last_hash = row.seq, row.hash
        if len(problems) >= max_problems:
            problems.append("... (stopped after too many problems)")
            break
    head = store.head()
    if head is not None and len(problems) < max_problems:
        if last is None or head[0] > last:
            low = (last or (anchor[0] if anchor else 0)) + 1
            missing = f"record {low}" if low == head[0] else f"records {low}-{head[0]}"
            problems.append(f"{missing} deleted (the chain head is record {head[0]})")
        elif head != (last, last_hash):
            problems.append(f"record {last}: the chain head does not match it (head rewritten)")
    elif head is None and count:
        problems.append("the chain head is missing (rewritten)")
    return Verdict(count, first, last, last_hash, anchor, problems)
