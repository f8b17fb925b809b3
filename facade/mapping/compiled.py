"""Read-direction fields compiled to one Python function per (fields, practice).

:func:`facade.mapping.convert.interpret_read_fields` is the reference: it walks the
fields, parses paths and applies selectors for every record. Searches map many
records through the same fields, so this module turns a field list into the source
of a single function (the athena names as constants, each transform bound as a
local, each path unrolled into the dict/list steps ``set_value`` would take, templates
as string concatenation) and ``exec``s it once. The function does what the
interpreter does, step for step, in the same order: same output, same key order,
same exceptions (tests/mapping/test_compiled.py maps the seeded emulator data and
every golden input through both).

Nothing here is decided from data: the containers are still created and looked up
at run time (a record may lack a field, a selector's item may already exist), so a
compiled function is correct for every record, not only the ones seen.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from facade.mapping.paths import Segment, _creation, parse_path, selects
from facade.mapping.table import Field_
from facade.mapping.transforms import TRANSFORMS, Constant

if TYPE_CHECKING:
    from facade.mapping.convert import Codes

Json = dict[str, Any]
Reader = Callable[[Json, Json], None]  # (record, resource): sets the fields on resource

_EMPTYABLE = (str, list, dict, tuple)


def _not_empty(name: str) -> str:
    """The inline negation of convert._is_empty for the variable ``name``."""
    return f"({name} is not None and ({name} or not isinstance({name}, _E)))"


def _picker(seg: Segment) -> Callable[[list[Any]], Any]:
    """``set_value``'s selector step: the first item ``seg`` selects, else a new one."""
    made = _creation(seg.keys)

    def make(items: list[Any]) -> Any:
        if made is None:
            raise ValueError(f"a selector with a path only reads: {seg.name!r}")
        found = dict(made)
        items.append(found)
        return found

    plain = seg.plain_keys
    if plain is not None and len(plain) == 1:
        ((key, options, absent),) = plain

        def pick_one(items: list[Any]) -> Any:
            for item in items:  # selects() for one plain key
                if isinstance(item, dict):
                    own = item.get(key)
                    if (own is None and absent) or str(own) in options:
                        return item
            return make(items)

        return pick_one

    def pick(items: list[Any]) -> Any:
        for item in items:
            if selects(item, seg):
                return item
        return make(items)

    return pick


class _Source:
    """The generated function's lines and the objects its names stand for."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {"_E": _EMPTYABLE}
        self.gets: dict[str, str] = {}  # athena name -> its local

    def athena(self, depth: int, name: str) -> str:
        """The local holding ``record.get(name)``: got at its first use (at the function's
        top level, so every later field sees it), then reused."""
        local = self.gets.get(name)
        if local is None:
            local = self.gets[name] = f"_a{len(self.gets)}"
            self.emit(depth, f"{local} = record.get({name!r})")
        return local

    def bind(self, value: Any, hint: str) -> str:
        name = f"_{hint}{len(self.env)}"
        self.env[name] = value
        return name

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def set_path(
        self, depth: int, segments: tuple[Segment, ...], value: str, *, text: bool = False
    ) -> None:
        """``set_value(resource, segments, value)``, unrolled (``text``: the value is a str,
        so it never merges into a dict already there)."""
        node = "resource"
        for position, seg in enumerate(segments):
            name = repr(seg.name)
            last = position == len(segments) - 1
            if not seg.is_list:
                if last and text:
                    self.emit(depth, f"{node}[{name}] = {value}")
                    return
                if last:  # paths._assign: a dict merges into a dict already there
                    self.emit(depth, f"if isinstance({value}, dict):")
                    self.emit(depth + 1, f"_x = {node}.get({name})")
                    self.emit(depth + 1, "if isinstance(_x, dict):")
                    self.emit(depth + 2, f"_x.update({value})")
                    self.emit(depth + 1, "else:")
                    self.emit(depth + 2, f"{node}[{name}] = {value}")
                    self.emit(depth, "else:")
                    self.emit(depth + 1, f"{node}[{name}] = {value}")
                    return
                self.emit(depth, f"_n = {node}.setdefault({name}, {{}})")
            elif seg.append:
                if last:
                    self.emit(depth, f"{node}.setdefault({name}, []).append({value})")
                    return
                self.emit(depth, f"_items = {node}.setdefault({name}, [])")
                self.emit(depth, "_n = {}")
                self.emit(depth, "_items.append(_n)")
            elif seg.index is not None:
                self.emit(depth, f"_items = {node}.setdefault({name}, [])")
                self.emit(depth, f"while len(_items) <= {seg.index}:")
                self.emit(depth + 1, f"_items.append({'None' if last else '{}'})")
                if last:
                    self.emit(depth, f"_items[{seg.index}] = {value}")
                    return
                self.emit(depth, f"_n = _items[{seg.index}]")
            else:
                pick = self.bind(_picker(seg), "pick")
                self.emit(depth, f"_n = {pick}({node}.setdefault({name}, []))")
                if last:
                    message = f"cannot assign a scalar to selector segment {seg.name!r}"
                    self.emit(depth, f"if isinstance({value}, dict):")
                    self.emit(depth + 1, f"_n.update({value})")
                    self.emit(depth, "else:")
                    self.emit(depth + 1, f"raise ValueError({message!r})")
                    return
            node = "_n"

    def template(self, depth: int, text: str, parts: str, out: str) -> None:
        """``fill_template`` of ``parts`` (a tuple) into ``out``."""
        pieces: list[str] | None = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError:
            parsed, pieces = [], None
        for literal, field_name, spec, conversion in parsed:
            if pieces is None:
                break
            if literal:
                pieces.append(repr(literal))
            if field_name is None:
                continue
            if not field_name.isdigit() or not field_name.isascii() or spec or conversion:
                pieces = None  # anything but {n}: str.format itself
                break
            part = f"{parts}[{int(field_name)}]"
            pieces.append(f'("" if {part} is None else str({part}))')
        if pieces is None:
            fmt = self.bind(text.format, "format")
            self.emit(depth, f'{out} = {fmt}(*("" if _p is None else str(_p) for _p in {parts}))')
        else:
            self.emit(depth, f"{out} = {' + '.join(pieces) or repr('')}")


def _practice(text: str, practice: str) -> str:
    return text.replace("{practice}", practice)


def _compile_field(src: _Source, field: Field_, practice: str, codes: Codes) -> None:
    """One field's lines: what ``interpret_read_fields`` does for it, in its order."""
    depth = 1
    src.emit(depth, f"# {field.fhir}")
    if isinstance(field.athena, list):
        names = [src.athena(depth, athena) for athena in field.athena]
        if not names:  # all() of nothing: always empty
            src.emit(depth, "pass")
            return
        src.emit(depth, f"if {' or '.join(_not_empty(n) for n in names)}:")
        depth += 1
        src.emit(depth, f"_raw = ({', '.join(names)}{',' if len(names) == 1 else ''})")
        raw_is_tuple = True
    else:
        src.emit(depth, f"_raw = {src.athena(depth, field.athena)}")
        src.emit(depth, f"if {_not_empty('_raw')}:")
        depth += 1
        raw_is_tuple = False
    value, value_is_tuple = "_raw", raw_is_tuple
    known_text = False  # the value is a str (set without a dict-merge check)
    transform = TRANSFORMS[field.transform].read if field.transform != "identity" else None
    if isinstance(transform, Constant):  # its text, without the call
        src.emit(depth, f"_v = {transform.text!r}")
        if not transform.text:
            src.emit(depth, "if _v:")
            depth += 1
        value, value_is_tuple, known_text = "_v", False, True
    elif transform is not None:
        read = src.bind(transform, "read")
        src.emit(depth, f"_v = {read}(_raw)")
        src.emit(depth, f"if {_not_empty('_v')}:")
        depth += 1
        value, value_is_tuple = "_v", False
    segments = parse_path(_practice(field.fhir, practice))
    coding = segments[-1].name == "coding"
    if field.each:
        src.emit(depth, f"if isinstance({value}, list):")
        src.emit(depth + 1, f"for _item in {value}:")
        inner = _read_value(src, depth + 2, field, "_item", False, coding, practice, codes)
        src.set_path(inner, segments, "_out")
        src.emit(depth, "else:")
        depth += 1
    text = known_text
    if field.codes or field.template:
        depth = _read_value(src, depth, field, value, value_is_tuple, coding, practice, codes)
        value = "_out"
        text = not (field.codes and coding)  # a bare code or a filled template: a str
    src.set_path(depth, segments, value, text=text)


def _read_value(
    src: _Source,
    depth: int,
    field: Field_,
    value: str,
    is_tuple: bool,
    coding: bool,
    practice: str,
    codes: Codes,
) -> int:
    """``convert._read_value`` of ``value`` into ``_out`` (skipping when empty): the depth
    at which ``_out`` holds a value to set."""
    if field.codes:
        to_fhir = src.bind(codes.to_fhir, "codes")
        src.emit(depth, f"_code = {to_fhir}({field.codes!r}, {value})")
        src.emit(depth, "if _code is not None:")
        depth += 1
        if coding:
            coding_of = src.bind(codes.coding, "coding")
            src.emit(depth, f"_out = {coding_of}({field.codes!r}, _code)")
        else:
            src.emit(depth, '_out = _code.rpartition("|")[2]')
    elif field.template:
        parts = value
        if not is_tuple:
            src.emit(depth, f"_parts = {value} if isinstance({value}, tuple) else ({value},)")
            parts = "_parts"
        src.template(
            depth, _practice(field.template, practice).replace("{value}", "{0}"), parts, "_out"
        )
    else:
        src.emit(depth, f"_out = {value}")
    src.emit(depth, f"if {_not_empty('_out')}:")
    return depth + 1


def compile_fields(fields: Sequence[Field_], practice: str, codes: Codes) -> Reader:
    """The read-direction ``fields`` as one function of (record, resource) for ``practice``."""
    src = _Source()
    src.emit(0, "def read_fields(record, resource):")
    for field in fields:
        if field.direction != "write":
            _compile_field(src, field, practice, codes)
    src.emit(1, "return None")
    namespace = dict(src.env)
    exec(compile("\n".join(src.lines), "<compiled read fields>", "exec"), namespace)
    reader: Reader = namespace["read_fields"]
    return reader


def source_of(fields: Sequence[Field_], practice: str, codes: Codes) -> str:
    """The generated source (for reading and debugging)."""
    src = _Source()
    for field in fields:
        if field.direction != "write":
            _compile_field(src, field, practice, codes)
    return "\n".join(src.lines)


class _Compiled:
    """A compiled reader with what it was compiled from (the cache key's objects stay alive
    while the entry does, so their ids are not reused for other objects)."""

    __slots__ = ("codes", "fields", "reader")

    def __init__(self, fields: tuple[Field_, ...], codes: Codes, reader: Reader) -> None:
        self.fields = fields
        self.codes = codes
        self.reader = reader


_READERS: dict[tuple[tuple[int, ...], str, int], _Compiled] = {}
MAX_READERS = 4096  # field lists x practices; rebuilt on demand past it


def reader_of(fields: Sequence[Field_], practice: str, codes: Codes) -> Reader:
    """``compile_fields``, cached per (the field objects, practice, code tables)."""
    key = (tuple(map(id, fields)), practice, id(codes))
    entry = _READERS.get(key)
    if entry is None or entry.codes is not codes or not _same(entry.fields, fields):
        if len(_READERS) >= MAX_READERS:
            _READERS.clear()
        entry = _Compiled(tuple(fields), codes, compile_fields(fields, practice, codes))
        _READERS[key] = entry
    return entry.reader


def _same(kept: tuple[Field_, ...], fields: Sequence[Field_]) -> bool:
    return len(kept) == len(fields) and all(a is b for a, b in zip(kept, fields, strict=True))


@lru_cache(maxsize=1024)
def getter_of(names: tuple[str, ...]) -> Callable[[Json], tuple[Any, ...]]:
    """The values of ``names`` in a record, each followed by its type: a memo key for what
    those raw values decide (1, 1.0 and True are equal values that transforms answer
    differently). Generated, without a generator or ``map``.

    >>> getter_of(("a", "b"))({"a": 1})
    (1, <class 'int'>, None, <class 'NoneType'>)
    """
    reads = "".join(f"    _{i} = record.get({n!r})\n" for i, n in enumerate(names))
    body = "".join(f"_{i}, type(_{i}), " for i in range(len(names)))
    namespace: dict[str, Any] = {}
    exec(f"def get(record):\n{reads}    return ({body})", namespace)
    getter: Callable[[Json], tuple[Any, ...]] = namespace["get"]
    return getter
