"""``athena-facade sync``: an incremental SQL warehouse, fed as a Bulk Data client.

    client.py     a Bulk Data 2.0.0 client of the facade: SMART Backend Services token
                  (private_key_jwt, or a client secret), kick-off, polling, NDJSON files
    run.py        one run (which types, resume, exports, storing) and the schedule
    warehouse.py  DuckDB or PostgreSQL: one table per type, upserts, ``sync_state``
    columns.py    a row from a resource: common and typed columns
    progress.py   progress bars on a terminal, one line per type otherwise, the summary
    command.py    the CLI arguments

How it reaches the data: over HTTP, as any warehouse client of any deployment would
(``$export`` at system level with ``_type`` and ``_since``), never by reading the
facade's stores, so every row passed the same authorization as the client's searches.
The facade's own tables decide which types exist and which can be taken incrementally
(:mod:`facade.sync.run`). Nothing here imports the HTTP face or a web framework.
"""
