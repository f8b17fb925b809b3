"""URLs of a job and its completion manifest (Bulk Data Access 2.0.0 "Response - Complete Status").

The manifest carries every key Inferno's bulk data kit requires (``transactionTime``,
``request``, ``requiresAccessToken``, ``output``, ``error``), absolute file URLs, one
entry per non-empty file (one resource type each), ``count`` per file, and ``error``
always present (``[]`` when nothing went wrong).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
STATUS_PATH = "/bulk/status"
FILES_PATH = "/bulk/files"
ERROR_FILE = "errors.ndjson"


def status_url(fhir_base: str, job_id: str) -> str:
    return f"{fhir_base}{STATUS_PATH}/{job_id}"


def file_url(fhir_base: str, job_id: str, name: str) -> str:
    return f"{fhir_base}{FILES_PATH}/{job_id}/{name}"


def manifest(
    *,
    fhir_base: str,
    job_id: str,
    transaction_time: str,
    request: str,
    outputs: list[tuple[str, str, int]],  # (type, file name, count)
    errors: int,
) -> Json:
    return {
        "transactionTime": transaction_time,
        "request": request,
        "requiresAccessToken": True,
        "output": [
            {"type": rtype, "url": file_url(fhir_base, job_id, name), "count": count}
            for rtype, name, count in outputs
            if count
        ],
        "error": (
            [
                {
                    "type": "OperationOutcome",
                    "url": file_url(fhir_base, job_id, ERROR_FILE),
                    "count": errors,
                }
            ]
            if errors
            else []
        ),
    }
