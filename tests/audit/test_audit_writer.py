"""The write-behind recorder's mechanics and the store's cheap append: the deque hand-off
(an idle writer is woken, ``flush`` waits, overflow writes synchronously), multi-row
inserts keep the chain, the keyed hash is plain HMAC-SHA256 of the documented text, and
the ``patient=`` search finds records written before and after ``audit_patients`` stopped
listing a record's first patient."""

from __future__ import annotations

import hashlib
import hmac
import random
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from facade.api.audit import hand_over
from facade.audit.chain import hasher, verify
from facade.audit.context import Note, note_patient
from facade.audit.events import Interaction, instant, interaction_rows, token
from facade.audit.recorder import AuditRecorder
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.store.audit import PATIENTS_PER_INSERT, ROWS_PER_INSERT, AuditRow, SqliteAuditStore
from tests.audit.test_audit_chain import KEY, read


def documented_hash(key: bytes, prev: str, seq: int, row: AuditRow) -> str:
    """README "Audit trail": HMAC-SHA256(key, prev ‖ seq ‖ every column), 0x1f-separated."""
    columns = (row.recorded, row.practice, row.kind, row.action, row.outcome, row.agent)
    text = "\x1f".join((prev, str(seq), *columns, row.patient, row.entity, row.facts))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_the_record_hash_is_hmac_sha256_of_the_documented_text() -> None:
    (row,) = interaction_rows(read(time.time(), 7), "195900")
    for key in (KEY, b"short", b"x" * 64, bytes(range(200))):  # a key over one block is hashed
        assert hasher(key)("ab" * 32, 7, row) == documented_hash(key, "ab" * 32, 7, row)


def test_instants_are_datetime_isoformat_to_the_microsecond() -> None:
    rng = random.Random(20)
    samples = [rng.uniform(0, 4e9) for _ in range(20_000)]
    samples += [1_764_605_485 + f for f in (0.0, 0.5, 0.0000005, 0.0000015, 0.9999995, 0.9999996)]
    for at in samples:
        assert instant(at) == datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


def test_a_batch_larger_than_one_insert_statement_keeps_the_chain(tmp_path: Path) -> None:
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    try:
        count = ROWS_PER_INSERT * 2 + 37
        rows = [r for n in range(count) for r in interaction_rows(read(time.time(), n), "195900")]
        assert store.append(rows, hasher(KEY)) == count
        assert store.append(rows[:3], hasher(KEY)) == count + 3  # chained after them
        scanned = list(store.scan())
        assert [r.seq for r in scanned] == list(range(1, count + 4))
        assert [r.patient for r in scanned[:count]] == [r.patient for r in rows]
        verdict = verify(store, KEY)
        assert verdict.ok and verdict.records == count + 3, verdict.problems
    finally:
        store.close()


def test_an_idle_writer_is_woken_by_the_next_record(tmp_path: Path) -> None:
    recorder = AuditRecorder(
        SqliteAuditStore(tmp_path / "audit.sqlite3"), KEY, default_practice="195900"
    )
    try:
        for round_ in range(3):
            for _ in range(2000):  # wait (bounded) until the writer sleeps on its event
                if recorder._idle:
                    break
                time.sleep(0.005)
            assert recorder._idle
            recorder.interaction(read(time.time(), round_))
            recorder.flush()
            assert recorder.written == round_ + 1
    finally:
        recorder.close()


def test_flush_waits_for_every_record_handed_over_from_many_threads(tmp_path: Path) -> None:
    recorder = AuditRecorder(
        SqliteAuditStore(tmp_path / "audit.sqlite3"), KEY, default_practice="195900", capacity=64
    )

    def hand_over(worker: int) -> None:
        for n in range(200):
            recorder.interaction(read(time.time(), worker * 1000 + n))

    threads = [threading.Thread(target=hand_over, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.flush()  # written (some synchronously: 64 fit) before flush returns
    assert recorder.written == 800 and recorder.dropped == 0
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    try:
        ids = sorted(int(r.patient.rsplit("-", 1)[1]) for r in store.scan())
        assert ids == sorted(w * 1000 + n for w in range(4) for n in range(200))
        assert verify(store, KEY).ok
    finally:
        store.close()
        recorder.close()


def search(patients: tuple[str, ...], n: int) -> Interaction:
    note = Note()
    for patient in patients:
        note_patient(note, patient)
    return read(time.time(), n)._replace(
        path="/Encounter", query=b"date=ge2025", patients=tuple(note.patients)
    )


def test_patient_search_finds_first_and_other_patients_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = SqliteAuditStore(path)
    one, two, three = "a-195900.E-1", "a-195900.E-2", "a-195900.E-3"
    try:
        rows = [
            *interaction_rows(search((one, two), 1), "195900"),
            *interaction_rows(search((two,), 2), "195900"),
            *interaction_rows(search((three, one), 3), "195900"),
        ]
        store.append(rows, hasher(KEY))
        db = sqlite3.connect(path)
        named = db.execute("SELECT seq, patient FROM audit_patients ORDER BY seq").fetchall()
        assert named == [(1, two), (3, one)]  # only the records naming more than one
        # a record written before: audit_patients listed its first patient too
        db.execute("INSERT INTO audit_patients VALUES (1, '195900', ?)", (one,))
        db.commit()
        db.close()
        found = {
            p: [r.seq for r in store.page("195900", {"patient": p}, 0, 10)]
            for p in (one, two, three)
        }
        assert found == {one: [1, 3], two: [1, 2], three: [3]}
        assert store.page("195901", {"patient": one}, 0, 10) == []  # another practice's
    finally:
        store.close()


def test_a_batch_naming_more_patients_than_one_insert_statement_lists_each(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    store = SqliteAuditStore(path)
    try:
        # records naming 20 patients each (a full search page), more in all than one
        # statement takes, the last one partly repeating a patient (listed once)
        pages = [tuple(f"a-195900.E-{n * 20 + i}" for i in range(20)) for n in range(25)]
        pages.append(("a-195900.E-1", "a-195900.E-2", "a-195900.E-2"))
        rows = [
            r for n, page in enumerate(pages) for r in interaction_rows(search(page, n), "195900")
        ]
        assert sum(len(page) - 1 for page in pages[:-1]) > PATIENTS_PER_INSERT
        store.append(rows, hasher(KEY))
        db = sqlite3.connect(path)
        named = db.execute("SELECT seq, patient FROM audit_patients ORDER BY seq, patient")
        expected = sorted(
            (seq, p) for seq, page in enumerate(pages, 1) for p in set(page[1:]) if p != page[0]
        )
        assert named.fetchall() == expected
        db.close()
        for seq, page in enumerate(pages, 1):
            for patient in page:
                found = [r.seq for r in store.page("195900", {"patient": patient}, 0, 10)]
                assert seq in found, (seq, patient)
        assert verify(store, KEY).ok
    finally:
        store.close()


def test_retention_finds_the_cutoff_by_seq_across_deleted_records(tmp_path: Path) -> None:
    """No index on ``recorded``: prune binary-searches the chain (recorded grows with seq),
    also when records were deleted around the cutoff."""
    old, now = time.time() - 40 * 86400, time.time()
    for cut, holes in ((170, ()), (170, (*range(160, 171), 171, 172)), (1, ()), (300, ())):
        path = tmp_path / f"audit-{cut}-{len(holes)}.sqlite3"
        store = SqliteAuditStore(path)
        try:
            at = [old + n if n <= cut else now + n for n in range(1, 301)]
            rows = [r for n in range(1, 301) for r in interaction_rows(read(at[n - 1], n), "1")]
            store.append(rows, hasher(KEY))
            db = sqlite3.connect(path)
            db.executemany("DELETE FROM audit WHERE seq = ?", [(h,) for h in holes])
            db.commit()
            db.close()
            hashes = {r.seq: r.hash for r in store.scan()}
            kept_old = [n for n in range(1, cut + 1) if n not in holes]
            assert store.prune(instant(now - 86400)) == len(kept_old)
            assert store.anchor() == (kept_old[-1], hashes[kept_old[-1]])
            remaining = [r.seq for r in store.scan()]
            assert remaining == [n for n in range(cut + 1, 301) if n not in holes]
        finally:
            store.close()


def values_only(value: object) -> bool:
    if isinstance(value, tuple):
        return all(values_only(v) for v in value)
    return value is None or isinstance(value, (str, bytes, int, float))


def test_a_waiting_record_holds_values_only(tmp_path: Path) -> None:
    """What the envelope hands over is values (strings, tuples of them): while it waits for
    the writer it keeps nothing of the request alive (no note, lists or AuthContext)."""
    recorder = AuditRecorder(
        SqliteAuditStore(tmp_path / "audit.sqlite3"), KEY, default_practice="1", linger=30.0
    )
    try:
        note = Note()
        note.auth = AuthContext(
            "app", ScopeSet.parse("system/*.rs"), ("1",), subject="nurse", jti="j-1"
        )
        note_patient(note, "a-1.E-1")
        scope = {"path": "/fhir/r4/Patient/a-1.E-1", "method": "GET", "client": ("10.0.0.1", 1)}
        services = SimpleNamespace(audit=recorder)
        hand_over(services, scope, note, 200, "r-1", None)  # type: ignore[arg-type]
        waiting = recorder._pending[0]  # the writer lingers (30 s) before taking it
        assert values_only(waiting)
        assert isinstance(waiting, Interaction) and waiting.patients == ("a-1.E-1",)
        assert waiting.who is not None and (waiting.who.client, waiting.who.jti) == ("app", "j-1")
    finally:
        recorder.close()  # never waits for the linger
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    try:
        (row,) = store.scan()
        assert row.agent == " app nurse " and '"jti":"j-1"' in row.facts
    finally:
        store.close()


def test_token_facts_are_each_tokens_own() -> None:
    scopes = ScopeSet.parse("system/*.rs")
    first = AuthContext("app", scopes, ("1",), jti="j-1")
    second = AuthContext("app", scopes, ("1",), jti="j-2", fhir_user="Patient/a-1.E-7")
    assert token(first) is token(first)  # remembered per AuthContext
    made = [token(AuthContext("app", scopes, ("1",), jti=f"j-{n}")) for n in range(50)]
    assert [t.jti for t in made if t is not None] == [f"j-{n}" for n in range(50)]
    one, two = token(first), token(second)
    assert one is not None and two is not None
    assert (one.jti, one.patient) == ("j-1", None) and (two.jti, two.patient) == ("j-2", "a-1.E-7")
    assert token(None) is None
