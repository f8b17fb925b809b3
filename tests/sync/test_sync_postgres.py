"""The same sync into a real PostgreSQL (started by the conftest with initdb + pg_ctl)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.sync.support import counts, run_sync

TYPES = ["Patient", "Practitioner", "Location", "Schedule"]


def test_sync_into_postgresql_matches_duckdb(
    postgres: str, fhir_base: str, key_file: Path, tmp_path: Path
) -> None:
    ran = run_sync(fhir_base, key_file, postgres, "--types", ",".join(TYPES))
    assert ran.code == 0, ran.err
    assert "sync to postgresql://127.0.0.1/postgres" in ran.out  # no user or password shown
    duck = tmp_path / "w.duckdb"
    assert run_sync(fhir_base, key_file, f"duckdb://{duck}", "--types", ",".join(TYPES)).code == 0
    with psycopg.connect(postgres) as con:
        found = {
            t: con.execute(f"SELECT count(*) FROM {t.lower()} WHERE NOT deleted").fetchone()[0]
            for t in TYPES
        }
        assert found == counts(duck, TYPES)
        assert all(n == ran.lines()[t]["rows"] for t, n in found.items())
        # jsonb and the typed columns, joined
        joined = con.execute(
            "SELECT count(*), count(pr.id), count(l.id) FROM schedule s"
            " LEFT JOIN practitioner pr ON pr.id = s.practitioner"
            " LEFT JOIN location l ON l.id = s.location"
            " WHERE s.resource->'actor'->0->>'reference' = 'Practitioner/' || s.practitioner"
        ).fetchone()
        assert joined is not None and joined[0] == found["Schedule"] > 0
        assert joined[0] == joined[1] == joined[2]
        named = con.execute(
            "SELECT count(*) FROM patient WHERE family = resource->'name'->0->>'family'"
            " AND birthdate = (resource->>'birthDate')::date"
        ).fetchone()
        assert named == (found["Patient"],)
        state = con.execute(
            "SELECT count(*) FROM sync_state WHERE job IS NULL AND since IS NOT NULL"
        ).fetchone()
        assert state == (len(TYPES),)
    again = run_sync(fhir_base, key_file, postgres, "--types", ",".join(TYPES))
    assert again.code == 0, again.err
    modes = {t: line["mode"].split()[0] for t, line in again.lines().items()}
    assert modes == {
        "Patient": "since",
        "Practitioner": "since",
        "Location": "since",
        "Schedule": "full",
    }
    # Schedule's planningHorizon.start is now + athena's lead time, to the minute
    assert {t: n for t, n in again.changed().items() if t != "Schedule"} == {}
