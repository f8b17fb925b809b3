"""Claims workflow: ``Claim/$submit``, create, ``Claim/$add-note`` and the per-payer
ClaimResponses (API-NOTES §3.7, §3.9; REVENUE-CYCLE §1.1, §1.2, §1.6, §5.1, §8.2).

``mappings/claim.yaml`` declares the writes (athena's ``POST /claims`` and, for an
Encounter checked in from an appointment, ``POST /appointments/{id}/claim``); the engine
runs them like every write (scope ``c``, patient compartment, the Coverages, department
and provider as ``referenced`` records, Idempotency-Key in the ledger); this module
registers the hooks:

- resolver ``claim-charges``: validates the Claim (use ``claim``, a patient, Coverages
  with sequence 1 / 2, ICD-10-CM diagnoses, CPT/HCPCS items without modifiers, at most
  four diagnosis pointers per item: athena's limits, 422 at the element, nothing sent),
  builds athena's ``claimcharges``, finds the department (``locationReference`` /
  ``facility``, else the Encounter's, else the provider's) and the Encounter (checked in
  the caller's compartment: it must be the patient's); an Encounter from an appointment
  turns the step into athena's appointment claim;
- read-back ``submitted-claim``: after an ambiguous create, the patient's claim with the
  same service date and charges (their hash) that was not there before;
- completer ``claim-submitted``: the new claim read back (201, Location);
- collection ``claim-payers`` (ClaimResponse's ``surface: store`` route): one record per
  payer of athena's claims (``mappings/claimresponse.yaml`` maps it);
- operations ``$submit`` (R4 core canonical; answers the primary payer's ClaimResponse)
  and ``$add-note`` (athena's ``POST /claims/{id}/note``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.cache import render
from facade.engine import idempotency, reads, registry, write_policy
from facade.engine.operations import OperationCall, parameters
from facade.engine.services import Services
from facade.engine.writes import WriteContext, WriteOutcome, answer, reread
from facade.errors import Forbidden, InvalidRequest, NotFound, Unprocessable, UpstreamError
from facade.mapping.claims import CPT, HCPCS, ICD10CM, payer_insuranceid
from facade.mapping.convert import to_fhir
from facade.mapping.ids import format_id, parse_id
from facade.upstream.client import athena_error_message, raise_for_bad_request
from facade.workflows.coverage import insurances
from facade.workflows.eligibility import submitted

Json = dict[str, Any]
CLAIM = "Claim"
RESPONSE = "ClaimResponse"
MAX_DIAGNOSES = 4  # athena's icd10code1..4 per charge
PAYERS = (("1", "primaryinsurancepayer"), ("2", "secondaryinsurancepayer"))
LIST_LIMIT = 1000


# -- the Claim -> athena's claimcharges ---------------------------------------------------------


def _icd10(resource: Json) -> dict[int, str]:
    """``diagnosis`` by sequence: ICD-10-CM codes (athena bills nothing else)."""
    found: dict[int, str] = {}
    for index, row in enumerate(resource.get("diagnosis") or []):
        where = f"{CLAIM}.diagnosis[{index}]"
        if not isinstance(row, dict) or not isinstance(row.get("sequence"), int):
            raise InvalidRequest("A diagnosis has a sequence", expression=(f"{where}.sequence",))
        codings = (row.get("diagnosisCodeableConcept") or {}).get("coding") or []
        codes = [
            c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == ICD10CM
        ]
        if not codes or not codes[0]:
            raise Unprocessable(
                f"athena bills ICD-10-CM diagnoses: give diagnosisCodeableConcept with system"
                f" {ICD10CM} (a Condition reference is not billed)",
                expression=(f"{where}.diagnosisCodeableConcept",),
            )
        found[int(row["sequence"])] = str(codes[0])
    return found


def _charge(index: int, item: Any, diagnoses: dict[int, str]) -> tuple[Json, str | None]:
    """One athena charge from ``item[index]``, and its service date."""
    where = f"{CLAIM}.item[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest("An item is an object", expression=(where,))
    codings = (item.get("productOrService") or {}).get("coding") or []
    codes = [
        str(c["code"])
        for c in codings
        if isinstance(c, dict) and c.get("system") in (CPT, HCPCS) and c.get("code")
    ]
    if not codes:
        raise Unprocessable(
            f"athena bills CPT ({CPT}) or HCPCS ({HCPCS}) procedure codes",
            expression=(f"{where}.productOrService",),
        )
    if item.get("modifier"):
        raise Unprocessable(
            "athena's claim charges take no procedure modifiers: leave modifier out or bill"
            " the claim in athenaOne",
            expression=(f"{where}.modifier",),
        )
    pointers = item.get("diagnosisSequence") or []
    if not isinstance(pointers, list) or not pointers:
        raise Unprocessable(
            "Each item points at its diagnoses (diagnosisSequence): athena needs one",
            expression=(f"{where}.diagnosisSequence",),
        )
    if len(pointers) > MAX_DIAGNOSES:
        raise Unprocessable(
            f"athena takes at most {MAX_DIAGNOSES} diagnoses per charge; this item points at"
            f" {len(pointers)} (nothing was submitted)",
            expression=(f"{where}.diagnosisSequence[{MAX_DIAGNOSES}]",),
        )
    charge: Json = {"procedurecode": codes[0]}
    for number, pointer in enumerate(pointers, start=1):
        if pointer not in diagnoses:
            raise Unprocessable(
                f"diagnosisSequence {pointer} names no diagnosis of the Claim",
                expression=(f"{where}.diagnosisSequence[{number - 1}]",),
            )
        charge[f"icd10code{number}"] = diagnoses[pointer]
    quantity = (item.get("quantity") or {}).get("value", 1)
    if not isinstance(quantity, (int, float)) or quantity < 1 or int(quantity) != quantity:
        raise Unprocessable(
            "quantity is a whole number of units", expression=(f"{where}.quantity",)
        )
    charge["units"] = int(quantity)
    price = (item.get("unitPrice") or {}).get("value")
    if isinstance(price, (int, float)):
        charge["unitamount"] = price
    served = item.get("servicedDate")
    return charge, str(served) if served else None


def _service_date(resource: Json, days: list[str | None]) -> str | None:
    given = sorted({d for d in days if d})
    if len(given) > 1:
        raise Unprocessable(
            "athena bills one service date per claim: the items name several",
            expression=(f"{CLAIM}.item",),
        )
    day = given[0] if given else (resource.get("billablePeriod") or {}).get("start")
    if not day:
        return None
    try:
        return datetime.strptime(str(day)[:10], "%Y-%m-%d").strftime("%m/%d/%Y")
    except ValueError:
        raise InvalidRequest("servicedDate is a date", expression=(f"{CLAIM}.item",)) from None


def fingerprint(servicedate: str, charges: list[Json]) -> str:
    """What identifies a claim's content without naming it: its service date and charges
    (procedure, units, diagnoses), hashed (the ledger keeps no dates or codes)."""
    lines = [
        [
            str(c.get("procedurecode", "")).upper(),
            int(c.get("units") or 1),
            [str(x).upper().replace(".", "") for x in c.get("codes", [])],
        ]
        for c in charges
    ]
    text = json.dumps([servicedate, lines], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _request_lines(charges: list[Json]) -> list[Json]:
    return [
        {
            **c,
            "codes": [
                c[f"icd10code{n}"] for n in range(1, MAX_DIAGNOSES + 1) if f"icd10code{n}" in c
            ],
        }
        for c in charges
    ]


def _claim_lines(claim: Json) -> list[Json]:
    return [
        {
            "procedurecode": p.get("procedurecode"),
            "units": p.get("units") or 1,
            "codes": p.get("diagnosisrawcodes") or [],
        }
        for p in claim.get("procedures") or []
        if isinstance(p, dict)
    ]


def claim_fingerprint(claim: Json) -> str:
    return fingerprint(str(claim.get("billedservicedate", "")), _claim_lines(claim))


def _validate(ctx: WriteContext) -> None:
    res = ctx.resource
    if res.get("status", "active") != "active":
        raise Unprocessable("Only an active Claim is submitted", expression=(f"{CLAIM}.status",))
    if res.get("use", "claim") != "claim":
        raise Unprocessable(
            "athena's claims are claims: use is claim (no preauthorization or predetermination)",
            expression=(f"{CLAIM}.use",),
        )
    if not ctx.fields.get("patientid"):
        raise InvalidRequest(
            "The Claim names its patient: Patient/a-{practiceid}.E-{patientid}",
            expression=(f"{CLAIM}.patient",),
        )
    cover = res.get("insurance")
    if not isinstance(cover, list) or not cover:
        raise Unprocessable(
            "A Claim names the patient's Coverage (insurance): athena bills a claim to an"
            " insurance; a patient without one cannot be billed this way",
            expression=(f"{CLAIM}.insurance",),
        )
    for index, entry in enumerate(cover):
        where = f"{CLAIM}.insurance[{index}]"
        if not isinstance(entry, dict) or entry.get("sequence") not in (1, 2):
            raise Unprocessable(
                "athena bills a primary (sequence 1) and a secondary (sequence 2) insurance",
                expression=(f"{where}.sequence",),
            )
        if not (entry.get("coverage") or {}).get("reference"):
            raise InvalidRequest(
                "insurance.coverage is required", expression=(f"{where}.coverage",)
            )
    if not ctx.fields.get("primarypatientinsuranceid"):
        raise Unprocessable(
            "The Claim's primary insurance (sequence 1) references"
            " Coverage/a-{practiceid}.Coverage-{id}",
            expression=(f"{CLAIM}.insurance",),
        )
    if not isinstance(res.get("item"), list) or not res["item"]:
        raise Unprocessable("A Claim has at least one item (charge)", expression=(f"{CLAIM}.item",))


async def _provider(ctx: WriteContext) -> str | None:
    """The supervising provider: the Practitioner, or a PractitionerRole's provider (whose
    department is then the default); the provider's department when none other is known."""
    ref = str((ctx.resource.get("provider") or {}).get("reference") or "")
    if ref.startswith("PractitionerRole/"):
        fid = parse_id(
            ref.removeprefix("PractitionerRole/"), "PractitionerRole", r"[0-9]{1,12}-[0-9]{1,12}"
        )
        if fid.practice != ctx.practice:
            raise InvalidRequest(
                "The provider is in another practice", expression=(f"{CLAIM}.provider",)
            )
        provider, department = fid.local.split("-")
        ctx.fields["supervisingproviderid"] = provider
        return department
    if ref and not ctx.fields.get("supervisingproviderid"):
        raise Unprocessable(
            "athena bills a person: provider is Practitioner/a-{practiceid}.Provider-{id} or"
            " a PractitionerRole",
            expression=(f"{CLAIM}.provider",),
        )
    return None


async def _home_department(ctx: WriteContext) -> str | None:
    provider = ctx.fields.get("supervisingproviderid")
    if not provider:
        return None
    response = await ctx.services.athena.rest("GET", ctx.practice, f"/providers/{provider}")
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    body = response.body[0] if isinstance(response.body, list) and response.body else response.body
    value = body.get("homedepartment") if isinstance(body, dict) else None
    return None if value in (None, "") else str(value)


async def _encounter(ctx: WriteContext) -> Json | None:
    """The Encounter the items name: the patient's (read in the caller's compartment), with
    athena's department and appointment for it."""
    local = ctx.fields.pop("encounterid", None)
    if not local:
        return None
    named = {
        str(e.get("reference"))
        for item in ctx.resource.get("item") or []
        if isinstance(item, dict)
        for e in item.get("encounter") or []
        if isinstance(e, dict)
    }
    where = (f"{CLAIM}.item[0].encounter",)
    if len(named) > 1:
        raise Unprocessable(
            "athena bills one visit per claim: the items name several Encounters", expression=where
        )
    table = ctx.services.mappings.table("Encounter")
    assert table is not None
    patient = format_id(ctx.practice, "E", str(ctx.fields["patientid"]))
    await write_policy.check_referenced(ctx, table, str(local), [patient], where)
    response = await ctx.services.athena.rest("GET", ctx.practice, f"/chart/encounter/{local}")
    if response.status == 404:
        raise NotFound("athena does not know the Encounter", expression=where)
    raise_for_bad_request(response)
    body = response.body[0] if isinstance(response.body, list) and response.body else response.body
    if not isinstance(body, dict) or str(body.get("patientid", "")) not in (
        "",
        str(ctx.fields["patientid"]),
    ):
        raise Unprocessable("The Encounter is not the patient's", expression=where)
    return body


@registry.resolver("claim-charges")
async def claim_charges(ctx: WriteContext) -> None:
    """Resolver ``claim-charges``: athena's claim fields from the Claim (module docstring)."""
    _validate(ctx)
    diagnoses = _icd10(ctx.resource)
    built = [_charge(i, item, diagnoses) for i, item in enumerate(ctx.resource["item"])]
    charges = [c for c, _ in built]
    day = _service_date(ctx.resource, [d for _, d in built])
    role_department = await _provider(ctx)
    encounter = await _encounter(ctx)
    fields = ctx.fields
    department = fields.get("departmentid")
    if encounter is not None:
        theirs = str(encounter.get("departmentid") or "")
        if department and theirs and str(department) != theirs:
            raise Unprocessable(
                f"The Encounter was in department {theirs}, not the one the Claim names",
                expression=(f"{CLAIM}.item[0].locationReference",),
            )
        department = department or theirs or None
        visit = encounter.get("encounterdate")
        day = day or (str(visit) if visit else None)
    department = department or role_department or await _home_department(ctx)
    if not department:
        raise Unprocessable(
            "The Claim's department cannot be determined: give item.locationReference"
            " (Location/a-{practiceid}.Department-{id}), an Encounter or a PractitionerRole",
            expression=(f"{CLAIM}.item[0].locationReference",),
        )
    fields["departmentid"] = str(department)
    if day:
        fields["servicedate"] = day
    fields["claimcharges"] = json.dumps(charges, separators=(",", ":"), sort_keys=True)
    claims = await _patient_claims(ctx.services, ctx.practice, str(fields["patientid"]))
    content = fingerprint(str(fields.get("servicedate") or _today()), _request_lines(charges))
    before = [str(c.get("claimid")) for c in claims if claim_fingerprint(c) == content]
    ctx.facts["intent"] = {
        "patientid": str(fields["patientid"]),
        "charges": content,
        "before": ",".join(before),
    }
    appointment = str((encounter or {}).get("appointmentid") or "")
    if appointment:  # athena's appointment claim: patient, department and date are the visit's
        assert ctx.table.writes is not None
        ctx.step = next(s for s in ctx.table.writes.steps if s.name == "appointment-claim")
        fields["appointmentid"] = appointment
        ctx.facts["intent"]["appointmentid"] = appointment


def _today() -> str:
    return datetime.now(UTC).strftime("%m/%d/%Y")


async def _patient_claims(services: Services, practice: str, patientid: str) -> list[Json]:
    response = await services.athena.rest(
        "GET", practice, "/claims", params=[("patientid", patientid), ("limit", str(LIST_LIMIT))]
    )
    if response.status == 404:
        return []
    raise_for_bad_request(response)
    rows = response.body.get("claims") if isinstance(response.body, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@registry.readback("submitted-claim")
async def submitted_claim(ctx: WriteContext, intent: dict[str, Any]) -> Json | None:
    """Read-back ``submitted-claim``: the patient's claim with these charges and service date
    (their hash) that was not there before the first attempt (an appointment's: its claim)."""
    patientid = str(intent.get("patientid") or "")
    if not patientid or not intent.get("charges"):
        return None
    before = set(str(intent.get("before") or "").split(","))
    for claim in await _patient_claims(ctx.services, ctx.practice, patientid):
        if str(claim.get("claimid")) in before or claim_fingerprint(claim) != intent["charges"]:
            continue
        if (
            intent.get("appointmentid")
            and str(claim.get("appointmentid")) != intent["appointmentid"]
        ):
            continue
        return claim
    return None


@registry.completer("claim-submitted")
async def claim_submitted(ctx: WriteContext, record: Json) -> WriteOutcome:
    """Completer ``claim-submitted``: athena answered the new claim's id: read it back (201)."""
    ids = record.get("claimids")
    claimid = record.get("claimid") or (ids[0] if isinstance(ids, list) and ids else None)
    if claimid in (None, ""):
        message = athena_error_message(record) if record else "no claim id"
        raise UpstreamError(f"athena answered the claim without its id ({message})")
    rid = format_id(ctx.practice, ctx.table.id.prefix, str(claimid))
    ctx.services.cache.invalidate(RESPONSE, ctx.practice, rid)
    return answer(ctx, await reread(ctx, rid), 201)


# -- ClaimResponse: one per payer -----------------------------------------------------------------


async def _package(services: Services, practice: str, claim: Json, insuranceid: str) -> Json:
    """The payer's package when athena's claim leaves it out (the patient's insurances)."""
    rows = await insurances(services, practice, str(claim.get("patientid")), cancelled=True) or []
    row = next((r for r in rows if str(r.get("insuranceid")) == insuranceid), {})
    return {k: row.get(k) for k in ("insurancepackageid", "insuranceplanname") if row.get(k)}


async def payer_records(services: Services, practice: str, claim: Json) -> list[Json]:
    """athena's claim as one record per payer (the ClaimResponse table's ``payer`` source)."""
    out = []
    for sequence, key in PAYERS:
        payer = claim.get(key)
        if not isinstance(payer, dict):
            continue
        insuranceid = payer_insuranceid(payer) or ""
        record: Json = {
            "id": format_id(practice, RESPONSE, f"{claim.get('claimid')}-{sequence}"),
            "claimid": str(claim.get("claimid")),
            "patientid": claim.get("patientid"),
            "claimcreateddate": claim.get("claimcreateddate"),
            "sequence": sequence,
            "insuranceid": insuranceid,
            **{k: payer[k] for k in ("insurancepackageid", "insuranceplanname") if payer.get(k)},
            "status": payer.get("status"),
            "note": payer.get("note"),
            "remittance": payer.get("remittance"),
        }
        if not record.get("insurancepackageid") and insuranceid:
            record.update(await _package(services, practice, claim, insuranceid))
        out.append(record)
    return out


async def _claim(services: Services, practice: str, claimid: str) -> Json | None:
    response = await services.athena.rest("GET", practice, f"/claims/{claimid}")
    if response.status == 404:
        return None
    raise_for_bad_request(response)
    body = response.body[0] if isinstance(response.body, list) and response.body else response.body
    if not isinstance(body, dict) or not body.get("claimid"):
        raise UpstreamError("athena answered the claim with an unexpected shape")
    return body


class _Payers:
    """ClaimResponse records (one per payer of athena's claims), as a store collection."""

    async def get(self, services: Services, practice: str, local: str) -> Json | None:
        claimid, _, sequence = local.partition("-")
        claim = await _claim(services, practice, claimid)
        if claim is None:
            return None
        found = [
            r for r in await payer_records(services, practice, claim) if r["sequence"] == sequence
        ]
        return found[0] if found else None

    async def page(
        self,
        services: Services,
        practice: str,
        params: list[tuple[str, str]],
        offset: int,
        limit: int,
    ) -> tuple[list[Json], bool]:
        given = dict(params)
        if "id" in given:
            found = await self.get(services, practice, given["id"])
            rows = [found] if found is not None else []
        else:
            if "request" in given:
                claim = await _claim(services, practice, given["request"])
                claims = [claim] if claim is not None else []
            else:
                claims = await _patient_claims(services, practice, given.get("patient", ""))
            if "patient" in given:
                claims = [c for c in claims if str(c.get("patientid")) == given["patient"]]
            claims.sort(key=lambda c: int(str(c.get("claimid") or 0)))
            rows = [r for c in claims for r in await payer_records(services, practice, c)]
        return rows[offset : offset + limit], len(rows) > offset + limit


PAYER_COLLECTION = _Payers()
registry.collection("claim-payers", PAYER_COLLECTION)


class _ById:
    """One claim by id (athena answers the bare object), mapped by the table's ``rest``
    source, as a store collection for the ``_id`` and ``identifier`` searches."""

    async def get(self, services: Services, practice: str, local: str) -> Json | None:
        claim = await _claim(services, practice, local)
        table = services.mappings.table(CLAIM)
        assert table is not None
        return (
            None
            if claim is None
            else to_fhir(claim, table, "rest", practice, services.mappings.codes)
        )

    async def page(
        self,
        services: Services,
        practice: str,
        params: list[tuple[str, str]],
        offset: int,
        limit: int,
    ) -> tuple[list[Json], bool]:
        local = dict(params).get("id", "")
        found = (
            await self.get(services, practice, local) if local.isdigit() and offset == 0 else None
        )
        return ([found] if found is not None else []), False


registry.collection("claims-by-id", _ById())


async def primary_response(services: Services, practice: str, claimid: str) -> Json:
    """The claim's primary payer's ClaimResponse as the table maps it."""
    record = await PAYER_COLLECTION.get(services, practice, f"{claimid}-1")
    if record is None:
        raise UpstreamError("athena does not show the claim's primary payer")
    table = services.mappings.table(RESPONSE)
    assert table is not None
    return to_fhir(record, table, "payer", practice, services.mappings.codes)


def _claim_id(rid: str) -> tuple[str, str]:
    fid = parse_id(rid, CLAIM)
    return fid.practice, fid.local


# -- operations -----------------------------------------------------------------------------------


@registry.operation(CLAIM, "submit")
async def submit(services: Services, auth: AuthContext, call: OperationCall) -> WriteOutcome:
    """``Claim/$submit``: create the claim in athena, answer its primary payer's
    ClaimResponse (200; queued while athena scrubs it). A keyed retry answers the first
    submission's ClaimResponse as it is now."""
    claim = submitted(call.body, CLAIM)
    outcome = await idempotency.create(
        services,
        auth,
        CLAIM,
        claim,
        key=call.key,
        condition=call.condition,
        extra={"operation": "submit"},
    )
    if outcome.status >= 400:
        return outcome
    practice, local = _claim_id(str(outcome.body.get("id", "")))
    response = await primary_response(services, practice, local)
    return WriteOutcome(200, response, {"ETag": render(response).etag})


@registry.operation(CLAIM, "add-note")
async def add_note(services: Services, auth: AuthContext, call: OperationCall) -> WriteOutcome:
    """``Claim/$add-note``: athena's claim note (a held claim is released by it)."""
    auth.require(CLAIM, "u")
    if policy.compartment_patient(auth, CLAIM, "u") is not None:
        raise Forbidden("Claim notes are the practice's: a patient-limited token cannot add one")
    given = dict(parameters(call.body))
    ref, text = given.get("claim", ""), given.get("text", "").strip()
    if not ref.startswith(f"{CLAIM}/"):
        raise InvalidRequest(
            "claim is a reference to Claim/a-{practiceid}.Claim-{id}",
            expression=("Parameters.parameter[claim]",),
        )
    if not text:
        raise InvalidRequest("text is the note", expression=("Parameters.parameter[text]",))
    rid = ref.removeprefix(f"{CLAIM}/")
    services.cache.invalidate(CLAIM, _claim_id(rid)[0], rid)
    await reads.read(services, auth, CLAIM, rid)  # authorized, and known to athena
    practice, local = _claim_id(rid)
    response = await services.athena.rest(
        "POST", practice, f"/claims/{local}/note", form={"claimnote": text}
    )
    if response.status == 404:
        raise NotFound(f"{CLAIM}/{rid} is not known")
    if response.status >= 400:
        raise Unprocessable(f"athena refused the note: {athena_error_message(response.body)}")
    services.cache.invalidate(CLAIM, practice, rid)
    found = await primary_response(services, practice, local)
    return WriteOutcome(200, found, {"ETag": render(found).etag})
