"""API-drift monitoring (README "Operations"): the athena contracts the tables depend on.

- :mod:`~facade.drift.derive`: per upstream route, the fields the tables read and write,
  derived from the mapping tables (pure);
- :mod:`~facade.drift.shapes`: JSON types and where a route's records sit in an answer;
- :mod:`~facade.drift.contract`: the recorded contracts (``contracts/*.json``);
- :mod:`~facade.drift.probe`: calls to athena (any environment) that observe each route;
- :mod:`~facade.drift.report`: contract vs observation (added, removed, retyped, errors);
- :mod:`~facade.drift.monitor`: the run-time check of every athena answer (``/metrics``).

No web framework here (tests/test_layers.py); the probe speaks HTTP with httpx.
"""
