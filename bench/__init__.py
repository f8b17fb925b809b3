"""The benchmark: facade + emulator as real processes, a real load generator on loopback.

``athena-facade bench`` runs every scenario and writes ``bench/RESULTS.md`` and
``bench/results.png``; each figure is a ratio against a baseline measured in
the same run, because this machine is shared and absolute numbers drift.
"""
