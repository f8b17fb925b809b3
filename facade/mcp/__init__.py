"""The MCP server (Model Context Protocol): tools over the engine, for AI agents.

An entry point like the HTTP face (DESIGN.md "Folders"): it opens nothing of its
own but calls :mod:`facade.engine` with the caller's :class:`~facade.auth.context.AuthContext`,
so a tool call has exactly the authorization a SMART app with the same token has.

- :mod:`facade.mcp.tool`: the tool registry (name, description for a model, arguments
  as a pydantic model = the JSON schema, annotations, one coroutine);
- :mod:`facade.mcp.tools`: the tools, one module per family;
- :mod:`facade.mcp.render`: bounded views of FHIR resources (ids, references, the few
  fields a model needs) and their one-line text;
- :mod:`facade.mcp.server`: the MCP ``Server``: tools/list and tools/call, argument
  validation, errors as tool errors, logs without PHI;
- :mod:`facade.mcp.http`: Streamable HTTP at ``{base}/mcp`` as an OAuth 2.1 resource
  server of the facade's own authorization server (RFC 9728 metadata);
- :mod:`facade.mcp.stdio`: ``athena-facade mcp`` for desktop agents.

It never imports :mod:`facade.api` (tests/test_layers.py).
"""
