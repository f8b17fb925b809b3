"""The one response class for FHIR bodies: orjson, ``application/fhir+json``, ``_pretty``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        *,
        pretty: bool = False,
        media_type: str | None = None,
    ) -> None:
        self.pretty = pretty
        super().__init__(content, status_code, headers, media_type or self.media_type)

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already serialized (the entity cache keeps bodies)
            return content
        option = orjson.OPT_INDENT_2 if self.pretty else 0
        return orjson.dumps(content, option=option)

    def init_headers(self, headers: Any = None) -> None:
        super().init_headers(headers)
        # FHIR JSON is always UTF-8; say so explicitly for older clients.
        self.raw_headers = [
            (k, v + b"; charset=utf-8") if k == b"content-type" and b"charset" not in v else (k, v)
            for k, v in self.raw_headers
        ]
