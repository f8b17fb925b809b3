"""The patch documents a FHIR patch takes (FHIR R4 http.html#patch), applied to the current
resource before it goes through the update (:func:`facade.engine.writes.patch`).

- JSON Patch (RFC 6902): ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test``
  on JSON Pointers (RFC 6901: ``~0`` and ``~1`` escapes, list indices, ``-`` appends);
- JSON Merge Patch (RFC 7386): objects merge recursively, ``null`` removes, anything
  else replaces.

Either may only touch the top-level elements the table's ``writes.patch_paths`` list
(anything else is 422 at the element); ``resourceType`` and ``id`` may be repeated in a
merge patch but never changed. A failed ``test`` is 409; a malformed document or a
pointer to nothing is 400 (leniently, ``replace`` of a missing object member adds it).

>>> current = {"resourceType": "Patient", "id": "p", "telecom": [{"value": "1"}]}
>>> json_patch(current, [{"op": "add", "path": "/telecom/-", "value": {"value": "2"}}])["telecom"]
[{'value': '1'}, {'value': '2'}]
>>> merge_patch(current, {"telecom": None, "gender": "female"})
{'resourceType': 'Patient', 'id': 'p', 'gender': 'female'}
"""

from __future__ import annotations

import copy
from typing import Any

from facade.errors import Conflict, InvalidRequest, Unprocessable
from facade.mapping.table import Table

Json = dict[str, Any]
_OPS = ("add", "remove", "replace", "move", "copy", "test")


def pointer(text: Any, where: str) -> list[str]:
    """RFC 6901 JSON Pointer -> its reference tokens.

    >>> pointer("/name/0/given", "path"), pointer("/a~1b/~0c", "path")
    (['name', '0', 'given'], ['a/b', '~c'])
    """
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise InvalidRequest(f"JSON Patch {where} must be a JSON Pointer such as /telecom/0")
    return [t.replace("~1", "/").replace("~0", "~") for t in text.split("/")[1:]]


def _index(container: list[Any], token: str, *, insert: bool) -> int:
    if insert and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise InvalidRequest(f"JSON Patch index {token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not insert):
        raise InvalidRequest(f"JSON Patch index {index} is out of range")
    return index


def _parent(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, insert=False)]
        else:
            raise InvalidRequest(f"JSON Patch path /{'/'.join(tokens)} does not exist")
    return node


def _get(document: Any, tokens: list[str]) -> Any:
    if not tokens:
        return document
    parent = _parent(document, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, insert=False)]
    raise InvalidRequest(f"JSON Patch path /{'/'.join(tokens)} does not exist")


def _add(document: Any, tokens: list[str], value: Any) -> None:
    parent, last = _parent(document, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, insert=True), value)
    else:
        raise InvalidRequest(f"JSON Patch path /{'/'.join(tokens)} does not exist")


def _remove(document: Any, tokens: list[str]) -> Any:
    parent, last = _parent(document, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, insert=False))
    raise InvalidRequest(f"JSON Patch path /{'/'.join(tokens)} does not exist")


def _patchable(table: Table, tokens: list[str]) -> None:
    assert table.writes is not None
    allowed = table.writes.patch_paths
    if not tokens or "/" + tokens[0] not in allowed:
        element = tokens[0] if tokens else ""
        raise Unprocessable(
            f"JSON Patch may only change {', '.join(allowed)}",
            expression=(f"{table.resource}.{element}".rstrip("."),),
        )


def apply_patch(table: Table, current: Json, operations: Any) -> Json:
    """JSON Patch (RFC 6902) on the elements the table lets a patch change."""
    if not isinstance(operations, list) or not operations:
        raise InvalidRequest("A JSON Patch body is a non-empty array of operations")
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in _OPS or "path" not in op:
            kind = op.get("op") if isinstance(op, dict) else None
            raise InvalidRequest(
                f"JSON Patch operation {index} is malformed"
                + (f" (unsupported op {kind!r})" if kind else "")
            )
        _patchable(table, pointer(op["path"], "path"))
        if op["op"] in ("move", "copy"):
            source = pointer(op.get("from"), "from")
            if op["op"] == "move":
                _patchable(table, source)
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise InvalidRequest(f"JSON Patch operation {index} ({op['op']}) needs a value")
    return json_patch(current, operations)


def json_patch(current: Json, operations: list[Json]) -> Json:
    """RFC 6902 over a copy of ``current`` (operations already checked)."""
    document = copy.deepcopy(current)
    for op in operations:
        kind, tokens = op["op"], pointer(op["path"], "path")
        if not tokens:
            raise InvalidRequest("JSON Patch cannot replace the whole resource")
        if kind == "test":
            if _get(document, tokens) != op["value"]:
                raise Conflict(f"JSON Patch test failed at {op['path']}")
        elif kind == "add":
            _add(document, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(document, tokens)
        elif kind == "replace":
            # lenient: a missing member of an object is added (RFC 6902 says error)
            parent = _parent(document, tokens)
            if not (isinstance(parent, dict) and tokens[-1] not in parent):
                _remove(document, tokens)
            _add(document, tokens, copy.deepcopy(op["value"]))
        else:  # move, copy
            source = pointer(op["from"], "from")
            if kind == "move" and tokens[: len(source)] == source and tokens != source:
                raise InvalidRequest("JSON Patch cannot move a value into itself")
            value = _remove(document, source) if kind == "move" else _get(document, source)
            _add(document, tokens, copy.deepcopy(value))
    return document


def apply_merge_patch(table: Table, current: Json, document: Any) -> Json:
    """JSON Merge Patch (RFC 7386) on the elements the table lets a patch change.

    ``null`` removes an element; objects merge recursively; anything else replaces.
    ``resourceType`` and ``id`` may be repeated but not changed.
    """
    assert table.writes is not None
    if not isinstance(document, dict):
        raise InvalidRequest("A JSON Merge Patch body is a JSON object")
    allowed = {p.strip("/").split("/", 1)[0] for p in table.writes.patch_paths}
    for key, value in document.items():
        if key in ("resourceType", "id") and value == current.get(key):
            continue
        if key not in allowed:
            raise Unprocessable(
                f"JSON Merge Patch may only change {', '.join(table.writes.patch_paths)}",
                expression=(f"{table.resource}.{key}",),
            )
    return merge_patch(current, document)


def merge_patch(current: Json, document: Json) -> Json:
    """RFC 7386 over ``current`` (a new dict)."""
    merged: Json = _merge(current, document)
    return merged


def _merge(target: Any, document: Any) -> Any:
    if not isinstance(document, dict):
        return copy.deepcopy(document)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in document.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged
