"""The MCP tool registry: each tool module registers its tools here, by name.

A tool is data plus one coroutine (MCP 2025-11-25 "Tools"):

- ``name`` and ``title``;
- a description written for a model: the coroutine's docstring, one paragraph;
- ``arguments``: a pydantic model; its JSON schema is the tool's ``inputSchema`` and
  it validates every call (unknown arguments are refused);
- :class:`Hints`: the MCP tool annotations (``readOnlyHint``, ``destructiveHint``,
  ``idempotentHint``; every tool here is closed-world: ``openWorldHint`` false);
- ``run(call, arguments) -> ToolResult``: engine calls with ``call.auth``, nothing else.

The modules in :mod:`facade.mcp.tools` register on import; a new family of tools
(coverage and eligibility, claims) is one more module there.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from facade.auth.context import AuthContext
from facade.engine.services import Services
from facade.mapping.loader import Mappings

Json = dict[str, Any]


class Arguments(BaseModel):
    """Base of every tool's arguments: unknown names are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Hints:
    """MCP tool annotations (hints to the client, never trusted for authorization)."""

    read_only: bool
    destructive: bool = False
    idempotent: bool = True


@dataclass(frozen=True)
class ToolCall:
    """One tools/call: the engine, the caller's authorization and what identifies the request.

    ``request`` is the transport's identity of this JSON-RPC request (its id, within the
    connection or session), the same when a client sends the request again.
    """

    services: Services
    auth: AuthContext
    name: str
    request: str

    def idempotency_key(self, arguments: BaseModel) -> str:
        """The write ledger key of this call: the same request with the same arguments,
        from the same client and user, writes once (the ledger also keys by client)."""
        canonical = json.dumps(
            [self.name, self.request, self.auth.subject, arguments.model_dump(mode="json")],
            sort_keys=True,
            separators=(",", ":"),
        )
        return "mcp:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ToolResult:
    """What a tool answers: structured content and a short text summary of it."""

    text: str
    data: Json


A = TypeVar("A", bound=BaseModel)
Runner = Callable[[ToolCall, Any], Awaitable[ToolResult]]
SchemaHook = Callable[[Json, Mappings], None]


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    hints: Hints
    run: Runner
    schema_hook: SchemaHook | None = None  # completes the schema from the tables

    def input_schema(self, mappings: Mappings) -> Json:
        schema = self.arguments.model_json_schema()
        if self.schema_hook is not None:
            self.schema_hook(schema, mappings)
        return schema


TOOLS: dict[str, Tool] = {}


def tool(
    name: str,
    *,
    title: str,
    arguments: type[A],
    hints: Hints,
    schema_hook: SchemaHook | None = None,
) -> Callable[[Callable[[ToolCall, A], Awaitable[ToolResult]]], Runner]:
    """Register ``run`` as tool ``name``; its docstring is the description a model reads."""

    def register(run: Callable[[ToolCall, A], Awaitable[ToolResult]]) -> Runner:
        if name in TOOLS:
            raise ValueError(f"MCP tool {name} is registered twice")
        description = inspect.cleandoc(run.__doc__ or "")
        if not description:
            raise ValueError(f"MCP tool {name} needs a description (its docstring)")
        TOOLS[name] = Tool(name, title, description, arguments, hints, run, schema_hook)
        return run

    return register
