"""The benchmark runs end to end (quick mode). No timing assertions: figures are for RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

from bench.load import _lua, _ms
from bench.run import render_report, run


def test_quick_benchmark_runs_and_records(tmp_path: Path) -> None:
    assert run(quick=True, out_dir=str(tmp_path)) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    report = (tmp_path / "RESULTS.md").read_text()
    assert (tmp_path / "results.png").stat().st_size > 1000
    for section in ("## P1", "## P2", "## P3", "## P4", "## P5", "## P6"):
        assert section in report
    # every scenario produced real measurements (not timing targets: those are reported, not asserted)
    p1 = results["p1"]["uvicorn x1"]
    assert p1["facade"]["requests"] > 0 and p1["baseline"]["requests"] > 0
    assert results["p2"]["uvicorn x1"]["facade"]["requests"] > 0
    assert results["p2_emulator"]["requests"] > 0
    assert results["p4"]["identical_ok"] == results["p4"]["identical_reads"] == 100
    assert results["p3"]["facade_us"] > 0 and results["p3"]["models_us"] > 0
    p5 = results["p5"]  # interactive reads with and without a Bulk Data export running
    assert p5["without"]["requests"] > 0 and p5["during"]["requests"] > 0
    assert p5["export_progress"][0]
    searches = results["p6"]["searches"]  # the five searches, each against athena direct
    assert len(searches) == 5
    for row in searches.values():
        assert row["facade"]["requests"] > 0 and row["direct"]["requests"] > 0
        assert row["cpu_ms_per_request"] > 0 and row["upstream_calls_per_search"] >= 1
        assert row["facade"]["errors"] == 0
    assert searches["Appointment?date=ge&date=le (one week)"]["results_per_search"] == 20
    assert results["p2"]["uvicorn x1"]["worker_cpu_seconds"]
    assert render_report(results) == report


def test_wrk_output_units() -> None:
    assert _ms("850.00us") == 0.85
    assert _ms("12.5ms") == 12.5
    assert _ms("1.20s") == 1200.0


def test_lua_rotates_paths_with_headers() -> None:
    script = _lua(["/a", "/b"], {"Authorization": "Bearer t"})
    assert '"/a","/b"' in script and '["Authorization"]="Bearer t"' in script
