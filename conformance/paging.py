"""Paging and Bundle checks: ``next`` links followed verbatim, and the searchset audit
every search of the run went through (``FhirClient._audit``)."""

from __future__ import annotations

from conformance.context import Context
from conformance.result import Skip, check, require

PAGE_SIZE = 2


@check("Paging via next links")
def paging(ctx: Context) -> str:
    pid, encounters = max(ctx.encounters.items(), key=lambda kv: len(kv[1]), default=("", []))
    if len(encounters) <= PAGE_SIZE:
        raise Skip(f"no patient has more than {PAGE_SIZE} encounters to page through")
    page = ctx.client.search("Encounter", {"patient": pid, "_count": str(PAGE_SIZE)})
    if page.pages == 1:
        raise Skip(f"_count={PAGE_SIZE} was answered with a single page")
    require(len(set(page.ids)) == len(page.ids), f"paging repeated a resource: {page.ids}")
    expected = sorted(str(e.get("id")) for e in encounters)
    require(sorted(page.ids) == expected, "the pages together differ from the unpaged search")
    return f"{page.pages} pages of {PAGE_SIZE}, {len(page.ids)} encounters, as unpaged"


@check("Bundles (searchset, absolute fullUrl, search.mode)")
def bundles(ctx: Context) -> str:
    seen = ctx.client.bundles_seen
    if not seen:
        raise Skip("no search answered with a Bundle")
    problems = ctx.client.bundle_problems
    require(not problems, f"{len(problems)} problems, first: {problems[0] if problems else ''}")
    return f"{seen} Bundles"
