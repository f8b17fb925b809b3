"""The audit trail (README "Audit trail"): IHE BALP AuditEvents for every FHIR interaction,
MCP tool call and security event, written behind the request to a hash-chained store.

context.py     what the request in flight notes for its AuditEvent (token, security events)
events.py      the AuditEvent resources (BALP), built from the captured facts
recorder.py    the bounded queue and the writer thread (write-behind, drained at shutdown)
chain.py       the hash chain and its verification
collection.py  the store as the engine's ``audit-events`` collection (AuditEvent search/read)
cli.py         ``athena-facade audit verify|prune``
"""
