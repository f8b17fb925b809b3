"""Every ``FACADE_`` setting is documented in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from facade.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Configuration")
    return "\n".join(line for line in text[start:].splitlines() if line.startswith("| `FACADE_"))


def test_every_setting_is_in_the_configuration_table() -> None:
    rows = _table_rows()
    missing = [
        f"FACADE_{name.upper()}"
        for name in Settings.model_fields
        if not re.search(rf"`FACADE_{name.upper()}`", rows)
    ]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_the_table_names_no_setting_that_does_not_exist() -> None:
    known = {f"FACADE_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"`(FACADE_[A-Z0-9_]+)`", _table_rows()))
    assert named <= known, f"not settings: {sorted(named - known)}"
