"""The MCP server over the engine: tools/list and tools/call for both transports.

- tools/list: every registered tool (:mod:`facade.mcp.tool`) with its JSON schema
  (generated from its arguments, completed from the tables), its description and its
  annotations;
- tools/call: the caller's :class:`AuthContext` from the transport's :class:`Identity`
  (HTTP: the bearer token of the request; stdio: the process's credential), arguments
  validated against the schema, the tool run under a request deadline
  (``FACADE_REQUEST_DEADLINE_SECONDS``, as a FHIR request). Every failure is a *tool
  error* (``isError``) carrying the OperationOutcome's message and code, never a crash
  or a stack trace; an unknown tool is a protocol error (MCP 2025-11-25 "Tools",
  "Error Handling").
- logs: one line per call with the tool's name, outcome and duration, never arguments
  or results (CONVENTIONS.md item 11).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, Protocol

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

import facade.mcp.tools  # noqa: F401  (registers every tool)
from facade.audit.events import ToolUse
from facade.auth.context import AuthContext
from facade.engine.services import Services
from facade.errors import FacadeError
from facade.mapping.loader import Mappings
from facade.mcp.tool import TOOLS, Tool, ToolCall
from facade.upstream.deadline import deadline

log = logging.getLogger("facade.mcp")
Json = dict[str, Any]

INSTRUCTIONS = (
    "FHIR R4 (US Core) over athenahealth. Find a patient with search_patients, then use "
    "her id with get_patient_summary, list_appointments and list_encounters; find_open_slots "
    "then book_appointment books a visit, cancel_appointment cancels one; fhir_read and "
    "fhir_search reach every other resource type. Lists come in pages: pass next_cursor as "
    "cursor for more. Every call has exactly the access of the token you connected with."
)


class Identity(Protocol):
    """Who is calling: the transport's way to an :class:`AuthContext` and a request identity."""

    async def auth(self, ctx: ServerRequestContext[Any, Any]) -> AuthContext: ...

    def request(self, ctx: ServerRequestContext[Any, Any]) -> str:
        """What identifies this JSON-RPC request across a retry (connection + request id)."""
        ...


def describe(spec: Tool, mappings: Mappings) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(mappings),
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.hints.read_only,
            destructive_hint=spec.hints.destructive,
            idempotent_hint=spec.hints.idempotent,
            open_world_hint=False,
        ),
    )


def _failure(message: str, error: Json) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)],
        structured_content={"error": error},
        is_error=True,
    )


def failure_of(exc: FacadeError) -> types.CallToolResult:
    """A typed error as a tool error: the OperationOutcome's diagnostics, code and status."""
    error: Json = {"status": exc.status, "code": exc.code, "message": exc.diagnostics}
    if exc.expression:
        error["expression"] = list(exc.expression)
    message = exc.diagnostics
    retry = exc.headers.get("Retry-After")
    if retry:
        error["retry_after_seconds"] = int(retry)
        message += f" (retry after {retry} s)"
    return _failure(message, error)


def invalid_arguments(exc: ValidationError) -> types.CallToolResult:
    """Which arguments are wrong and why, without echoing their values (they may be PHI)."""
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    ]
    message = "Invalid arguments: " + "; ".join(problems[:10])
    return _failure(message, {"status": 400, "code": "invalid", "message": message})


def build_server(
    services: Callable[[], Services], mappings: Mappings, identity: Identity
) -> Server[Any]:
    """The MCP server: the registered tools over ``services()``, callers from ``identity``."""
    listed = [describe(spec, mappings) for spec in TOOLS.values()]

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name[:60]}")
        started = time.perf_counter()
        outcome = "ok"
        auth: AuthContext | None = None
        try:
            arguments = spec.arguments.model_validate(params.arguments or {})
            engine = services()
            auth = await identity.auth(ctx)
            call = ToolCall(engine, auth, spec.name, identity.request(ctx))
            with deadline(engine.settings.request_deadline_seconds):
                result = await spec.run(call, arguments)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=result.text)],
                structured_content=result.data,
            )
        except ValidationError as exc:
            outcome = "invalid-arguments"
            return invalid_arguments(exc)
        except FacadeError as exc:
            outcome = f"{exc.status}"
            return failure_of(exc)
        except Exception as exc:
            # Never the message or a traceback: either may carry data of the call.
            outcome = "unexpected"
            log.error(
                "mcp tool=%s unexpected error type=%s at=%s",
                spec.name,
                type(exc).__name__,
                _innermost(exc),
            )
            return _failure(
                "The tool failed unexpectedly; the error was logged on the server",
                {"status": 500, "code": "exception", "message": "unexpected error"},
            )
        finally:
            services().audit.tool(tool_use(spec.name, outcome, identity.request(ctx), auth, params))
            log.info(
                "mcp tool=%s outcome=%s ms=%.1f",
                spec.name,
                outcome,
                (time.perf_counter() - started) * 1000,
            )

    return Server(
        "athena-fhir-facade",
        version=version("athena-fhir-facade"),
        title="athena FHIR facade",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=lambda name: next(
            (t.input_schema for t in listed if t.name == name), None
        ),
    )


def tool_use(
    tool: str,
    outcome: str,
    request_id: str,
    auth: AuthContext | None,
    params: types.CallToolRequestParams,
) -> ToolUse:
    """The audit facts of one tool call: the patient it named, if any (README "Audit trail")."""
    arguments = params.arguments or {}
    named = arguments.get("patient_id", arguments.get("patient"))
    patient = named.removeprefix("Patient/") if isinstance(named, str) else None
    status = 200 if outcome == "ok" else int(outcome) if outcome.isdigit() else 400
    if outcome == "unexpected":
        status = 500
    return ToolUse(time.time(), tool, status, request_id, auth, patient)


def _innermost(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
