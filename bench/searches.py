"""P6: FHIR searches through the facade vs the same question asked of athena directly.

Each search is a row: 32 connections, a distinct query per request (rotating over a
few hundred), athena 50 ms away. The baseline is the emulator answering, for each
query, the athena request a client of athena would send itself for one 20-result
page (the same date window in athena's department-local days, the same patient,
the same name prefix, ``limit``/``_count`` 20), so the ratio is what the facade
costs over talking to athena. Per row: throughput ratio, p50/p99, the facade
workers' CPU time per request (``/proc/PID/stat``, all workers together) and, from
a sequential sample through a one-worker facade, upstream calls per search and
upstream bytes per result (the facade's ``facade_upstream_bytes_total``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx

from bench.load import LoadResult, run_load
from bench.procs import cpu_delta

if TYPE_CHECKING:
    from bench.run import Bench, Config, Durations

PRACTICE = "195900"
COUNT = 20
CONNECTIONS = 32
QUERIES = 240  # distinct queries per search (more than any run issues per connection)
SAMPLE = 12  # sequential searches for calls and bytes per result
WARM_UP = 8  # sequential searches before the sample (not among the sample's)


@dataclass(frozen=True)
class Search:
    name: str
    facade: list[str]  # FHIR request paths
    direct: list[str]  # athena request paths (the emulator's /v1 or /fhir/r4)


def _fhir(resource: str, params: list[tuple[str, str]]) -> str:
    return f"/fhir/r4/{resource}?{urlencode([*params, ('_count', str(COUNT))])}"


def _v1(path: str, params: list[tuple[str, str]]) -> str:
    return f"/v1/{PRACTICE}{path}?{urlencode([*params, ('limit', str(COUNT))])}"


def _us(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def build(emulator: str, headers: dict[str, str], today: date) -> list[Search]:
    """The five searches of issue 17, each over ``QUERIES`` distinct queries."""
    rng = random.Random(17)
    client = httpx.Client(base_url=emulator, headers=headers, timeout=30)
    departments = ",".join(
        d["departmentid"] for d in client.get(f"/v1/{PRACTICE}/departments").json()["departments"]
    )
    # patients with visits (encounters) and appointments: from four weeks of athena's schedule
    booked = client.get(
        f"/v1/{PRACTICE}/appointments/booked",
        params={
            "departmentid": departments,
            "startdate": _us(today - timedelta(days=27)),
            "enddate": _us(today + timedelta(days=27)),
            "limit": "5000",
        },
    ).json()["appointments"]
    patients = sorted({a["patientid"] for a in booked if a.get("patientid")})
    names = client.get(
        f"/v1/{PRACTICE}/patients", params={"departmentid": "1", "limit": "1000"}
    ).json()["patients"]
    prefixes = sorted({n["lastname"][:3].lower() for n in names if len(n.get("lastname", "")) >= 3})
    client.close()

    def week(past: int, future: int, hours: bool) -> list[tuple[date, str, str]]:
        """(first local day, ge bound, le bound): one-week windows, distinct strings."""
        out = []
        for _ in range(QUERIES):
            first = today + timedelta(days=rng.randint(past, future))
            last = first + timedelta(days=6)
            ge = first.isoformat()
            if hours:  # distinct query strings over the same few weeks
                ge = f"{ge}T{rng.randint(0, 4):02d}:{rng.randint(0, 59):02d}:00Z"
            out.append((first, ge, last.isoformat()))
        return out

    appointment_dates = week(-27, 30, hours=True)
    slot_dates = week(2, 30, hours=True)
    chosen = [rng.choice(patients) for _ in range(QUERIES)]
    letters = [rng.choice(prefixes) for _ in range(QUERIES)]
    practice_org = f"Organization/a-1.Practice-{PRACTICE}"
    return [
        Search(
            "Appointment?date=ge&date=le (one week)",
            [
                _fhir("Appointment", [("date", f"ge{ge}"), ("date", f"le{le}")])
                for _, ge, le in appointment_dates
            ],
            [
                _v1(
                    "/appointments/booked",
                    [
                        ("departmentid", departments),
                        ("startdate", _us(first)),
                        ("enddate", _us(first + timedelta(days=6))),
                        ("showcancelled", "true"),
                    ],
                )
                for first, _, _ in appointment_dates
            ],
        ),
        Search(
            "Slot?status=free&start=ge&start=le (one week)",
            [
                _fhir("Slot", [("status", "free"), ("start", f"ge{ge}"), ("start", f"le{le}")])
                for _, ge, le in slot_dates
            ],
            [
                _v1(
                    "/appointments/open",
                    [
                        ("departmentid", departments),
                        ("reasonid", "-1"),
                        ("startdate", _us(first)),
                        ("enddate", _us(first + timedelta(days=6))),
                    ],
                )
                for first, _, _ in slot_dates
            ],
        ),
        Search(
            "Patient?name=<3 letters>",
            [_fhir("Patient", [("name", p)]) for p in letters],
            [_fhir("Patient", [("name", p), ("ah-practice", practice_org)]) for p in letters],
        ),
        Search(
            "Encounter?patient=",
            [_fhir("Encounter", [("patient", f"a-{PRACTICE}.E-{p}")]) for p in chosen],
            [
                _fhir(
                    "Encounter", [("patient", f"a-{PRACTICE}.E-{p}"), ("ah-practice", practice_org)]
                )
                for p in chosen
            ],
        ),
        Search(
            "Appointment?patient=",
            [_fhir("Appointment", [("patient", f"a-{PRACTICE}.E-{p}")]) for p in chosen],
            [
                _v1(f"/patients/{quote(p)}/appointments", [("showcancelled", "true")])
                for p in chosen
            ],
        ),
    ]


def _sample(base: str, headers: dict[str, str], paths: list[str]) -> dict[str, float]:
    """Upstream calls and bytes per search, results per search (one worker: its /metrics)."""

    def counters(client: httpx.Client) -> tuple[float, float]:
        values = dict(
            line.split()
            for line in client.get("/metrics").text.splitlines()
            if line.startswith("facade_upstream_")
        )
        return float(values["facade_upstream_calls_total"]), float(
            values["facade_upstream_bytes_total"]
        )

    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        # warm-up: upstream token, department list, and a few searches' yield, so the
        # upstream page size is estimated as under load (one search's own yield may be
        # far below the route's usual: later searches then take extra calls)
        for path in paths[-WARM_UP:]:
            client.get(path)
        calls0, bytes0 = counters(client)
        results = 0
        for path in paths[:SAMPLE]:
            answer = client.get(path)
            answer.raise_for_status()
            results += len(answer.json().get("entry", []))
        calls1, bytes1 = counters(client)
    n = min(SAMPLE, len(paths))
    return {
        "results_per_search": results / n,
        "upstream_calls_per_search": (calls1 - calls0) / n,
        "upstream_bytes_per_search": (bytes1 - bytes0) / n,
        "upstream_bytes_per_result": (bytes1 - bytes0) / max(1, results),
    }


def run_p6(bench: Bench, config: Config, single: Config, d: Durations) -> dict[str, Any]:
    """Every search: emulator direct, then the facade (``config``), in one run."""
    assert bench.emulator is not None
    emulator = bench.emulator
    scope = "athena/service/Athenanet.MDP.* system/*.rs"  # /v1 and athena's FHIR searches
    emu_headers = {"Authorization": f"Bearer {bench.emulator_token(scope)}"}
    today = datetime.now(UTC).date()
    searches = build(emulator.base, emu_headers, today)

    # the sampler polls no change feed: its polls would count as upstream calls of a search
    sampler = bench.start_facade(single, cache=True, extra={"FACADE_EVENTS_FEEDS": "[]"})
    headers = {"Authorization": f"Bearer {bench.facade_token(sampler.base)}"}
    samples = {s.name: _sample(sampler.base, headers, s.facade) for s in searches}
    bench.stop(sampler)

    facade = bench.start_facade(config, cache=True)
    headers = {"Authorization": f"Bearer {bench.facade_token(facade.base)}"}
    rows: dict[str, Any] = {}

    def emulator_cpu() -> float:
        return sum(emulator.cpu_seconds().values())

    for search in searches:
        started = emulator_cpu()
        direct = run_load(
            emulator.base, search.direct, connections=CONNECTIONS, seconds=d.p6, headers=emu_headers
        )
        direct_emulator = emulator_cpu() - started
        run_load(facade.base, search.facade[:50], connections=8, seconds=1, headers=headers)
        before, started = facade.cpu_seconds(), emulator_cpu()
        through: LoadResult = run_load(
            facade.base, search.facade, connections=CONNECTIONS, seconds=d.p6, headers=headers
        )
        spent = cpu_delta(before, facade.cpu_seconds())
        through_emulator = emulator_cpu() - started
        workers = sorted((round(s, 2) for s in spent.values() if s > 0.0), reverse=True)
        rows[search.name] = {
            "direct": asdict(direct),
            "facade": asdict(through),
            "ratio": through.rps / direct.rps if direct.rps else 0.0,
            "cpu_ms_per_request": sum(spent.values()) * 1000 / max(1, through.requests),
            # athena's (the emulator's) CPU per search, asked directly and through the facade:
            # it shares the two cores, so a larger upstream page costs the facade's ratio too
            "emulator_cpu_ms_direct": direct_emulator * 1000 / max(1, direct.requests),
            "emulator_cpu_ms_through": through_emulator * 1000 / max(1, through.requests),
            "worker_cpu_seconds": workers,
            **samples[search.name],
        }
    bench.stop(facade)
    return {"server": config.label, "connections": CONNECTIONS, "count": COUNT, "searches": rows}


def render(p6: dict[str, Any], latency_ms: float) -> list[str]:
    lines = [
        f"## P6 searches, {p6['connections']} connections, athena {latency_ms:.0f} ms away "
        f"({p6['server']})",
        "",
        "Distinct queries per request; the baseline is the emulator answering the athena "
        f"request for the same {p6['count']}-result page directly. CPU is the facade workers' "
        "process time per search; calls and bytes from a sequential sample (one worker).",
        "",
        "| search | facade req/s | direct req/s | ratio (>= 0.9) | p50 / p99 ms | "
        "CPU ms per search | worker CPU s | emulator CPU ms per search: direct / through | "
        "upstream calls per search | results | upstream bytes per result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in p6["searches"].items():
        f, dr = row["facade"], row["direct"]
        ok = "met" if row["ratio"] >= 0.9 else "**missed**"
        lines.append(
            f"| `{name}` | {f['rps']:.0f} | {dr['rps']:.0f} | {row['ratio']:.2f} {ok} "
            f"| {f['p50_ms']:.1f} / {f['p99_ms']:.1f} | {row['cpu_ms_per_request']:.2f} "
            f"| {' / '.join(str(w) for w in row['worker_cpu_seconds'])} "
            f"| {row.get('emulator_cpu_ms_direct', 0):.2f} / {row.get('emulator_cpu_ms_through', 0):.2f} "
            f"| {row['upstream_calls_per_search']:.2f} | {row['results_per_search']:.1f} "
            f"| {row['upstream_bytes_per_result']:,.0f} |"
        )
    lines.append("")
    return lines
