"""NDJSON part files: resumed at the last checkpoint, whole when renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facade.bulk.ndjson import LostCheckpoint, PartFile, temp_path


def test_a_resumed_part_drops_what_came_after_its_checkpoint(tmp_path: Path) -> None:
    part = PartFile(tmp_path, "Patient-1.ndjson")
    part.write({"resourceType": "Patient", "id": "a"})
    size = part.checkpoint()
    part.write({"resourceType": "Patient", "id": "lost"})  # written, then the worker died
    part.close()
    assert not (tmp_path / "Patient-1.ndjson").exists()  # nothing in view before it is done
    resumed = PartFile(tmp_path, "Patient-1.ndjson", size=size, count=1)
    assert resumed.ids() == {"a"}
    resumed.write({"resourceType": "Patient", "id": "b"})
    final = resumed.finish()
    lines = [json.loads(line) for line in final.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a", "b"] and resumed.count == 2
    assert not temp_path(tmp_path, "Patient-1.ndjson").exists()


def test_a_checkpoint_the_disk_does_not_hold_starts_over(tmp_path: Path) -> None:
    with pytest.raises(LostCheckpoint):
        PartFile(tmp_path, "Encounter-1.ndjson", size=100, count=3)
    empty = PartFile(tmp_path, "Encounter-1.ndjson")
    empty.finish()
    assert list(tmp_path.iterdir()) == []  # an empty part leaves no file
