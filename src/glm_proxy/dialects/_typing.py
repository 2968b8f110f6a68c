"""Typing of argument values from the request's tool schemas (glm-format.md section 2).

Dialects that write arguments as tagged text (GLM, Qwen3-Coder, MiniMax) write a string value
verbatim and every other value as JSON, so only the tool's JSON schema can tell the string "42"
from the number 42:

1. a key declared with a string type keeps its raw text exactly; the schema is followed through
   ``$ref`` (to ``$defs`` / ``definitions``), ``anyOf`` / ``oneOf`` / ``allOf``, ``enum`` and
   ``const`` (``openai.pydantic_function_tool`` writes an Enum as a ``$ref``);
2. any other key: JSON, then a Python literal (GLM sometimes writes reprs), then the raw text.
   NaN and Infinity are never produced.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

# Python literals longer than this are not tried: ast.literal_eval on huge text is slow and a
# model that writes a megabyte of repr is not one we can help anyway.
_LITERAL_LIMIT = 100_000


class ToolSchemas:
    """The declared tools of one request: names and, per tool, which keys are strings."""

    __slots__ = ("_name_index", "_names", "_parameters", "_properties", "_strings")

    def __init__(self, tools: Sequence[Mapping[str, Any]]) -> None:
        self._properties: dict[str, Mapping[str, Any]] = {}
        self._parameters: dict[str, Mapping[str, Any]] = {}
        self._strings: dict[tuple[str, str], bool] = {}  # is_string, per (tool, key) asked
        for tool in tools:
            function = tool.get("function") if _is_mapping(tool) else None
            if not _is_mapping(function):
                continue
            name = function.get("name")
            if not isinstance(name, str) or not name:
                continue
            parameters = function.get("parameters")
            if not _is_mapping(parameters):
                parameters = {}
            properties = parameters.get("properties")
            self._properties[name] = properties if _is_mapping(properties) else {}
            self._parameters[name] = parameters
        self._names = tuple(self._properties)
        self._name_index: _NameIndex | None = None  # made when first needed

    @property
    def names(self) -> tuple[str, ...]:
        """The declared tools' names."""
        return self._names

    def name_at_end(self, text: str, partial: bool) -> int:
        """Where a declared tool name ends ``text`` (followed by whitespace or not): its index,
        or -1. ``partial``: the text may go on, so the beginning of a name counts too (not when
        whitespace follows it). The longest such name is taken. For a call whose opener the
        backend left out (``get_weather<arg_key>...``)."""
        index = self._name_index
        if index is None:
            index = self._name_index = _NameIndex(self._names)
        if partial and not text[-1:].isspace():
            by_first = index.by_first
            end = len(text)
            for start in range(max(0, end - index.longest), end):
                names = by_first.get(text[start])
                if names is not None:
                    rest = text[start:]
                    for name in names:
                        if name.startswith(rest):
                            return start
            return -1
        body = text.rstrip()
        for name in index.by_last.get(body[-1:], ()):
            if body.endswith(name):
                return len(body) - len(name)
        return -1

    def is_string(self, tool: str, key: str) -> bool:
        known = self._strings.get((tool, key))
        if known is None:
            properties = self._properties.get(tool)
            known = properties is not None and is_string_schema(
                properties.get(key), self._parameters[tool]
            )
            self._strings[tool, key] = known
        return known

    def declared_keys(self, tool: str) -> Mapping[str, Any] | None:
        """The declared properties of ``tool``; None when no such tool is declared."""
        return self._properties.get(tool)

    def single_property(self, tool: str) -> str | None:
        """The only declared key of ``tool``, if it has exactly one."""
        properties = self._properties.get(tool)
        if properties is not None and len(properties) == 1:
            return next(iter(properties))
        return None

    def split_name_and_key(self, text: str) -> tuple[str, str] | None:
        """Split ``send_command_to_shellcommand`` into a declared name and the rest."""
        for name in sorted(self._properties, key=len, reverse=True):  # malformed calls only
            if len(text) > len(name) and text.startswith(name):
                return name, text[len(name) :]
        return None


class _NameIndex:
    """Declared names by their first and by their last character, longest first."""

    __slots__ = ("by_first", "by_last", "longest")

    def __init__(self, names: Sequence[str]) -> None:
        self.by_first: dict[str, list[str]] = {}
        self.by_last: dict[str, list[str]] = {}
        for name in sorted(names, key=len, reverse=True):
            self.by_first.setdefault(name[0], []).append(name)
            self.by_last.setdefault(name[-1], []).append(name)
        self.longest = max(map(len, names), default=0)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, (dict, Mapping))  # dict first: the ABC's check is much slower


_REF_DEPTH = 32
"""Most ``$ref`` hops followed from one property (a cycle of references ends there)."""


def is_string_schema(schema: object, root: Mapping[str, Any] | None = None) -> bool:
    """True when the schema declares a string: alone, in a type list, ``anyOf`` / ``oneOf`` /
    ``allOf`` holding one, an ``enum`` of strings or a string ``const``; ``$ref`` is followed to
    ``#/$defs/...`` or ``#/definitions/...`` of ``root`` (the tool's parameters)."""
    return _is_string(schema, root or {}, _REF_DEPTH)


def _is_string(schema: object, root: Mapping[str, Any], hops: int) -> bool:
    if not _is_mapping(schema):
        return False
    kind = schema.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        return True
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and any(_is_string(o, root, hops) for o in options):
            return True
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(item, str) for item in enum):
        return True
    if isinstance(schema.get("const"), str):
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and hops > 0:
        return _is_string(_resolve(ref, root), root, hops - 1)
    return False


def _resolve(ref: str, root: Mapping[str, Any]) -> object:
    """The schema a local ``$ref`` (``#/$defs/Name``, ``#/definitions/Name``, any JSON pointer
    into the tool's parameters) points to, or None."""
    if not ref.startswith("#"):
        return None  # another document: not ours to fetch
    node: object = root
    for part in ref[1:].split("/")[1:] if ref != "#" else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if _is_mapping(node):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_safe(value: Any) -> tuple[bool, Any]:
    """Check (and convert tuples to lists) that a literal is representable as finite JSON."""
    if value is None or isinstance(value, (bool, int, str)):
        return True, value
    if isinstance(value, float):
        return math.isfinite(value), value
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            ok, converted = _json_safe(item)
            if not ok:
                return False, None
            items.append(converted)
        return True, items
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            ok, converted = _json_safe(item)
            if not ok or not isinstance(key, str):
                return False, None
            result[key] = converted
        return True, result
    return False, None


def convert_value(raw: str) -> Any:
    """JSON, then a Python literal, then the raw string (policy rules 2 and 3)."""
    stripped = raw.strip()
    if stripped:
        try:
            ok, value = _json_safe(json.loads(stripped, parse_constant=_reject_constant))
        except (ValueError, RecursionError):
            ok = False
        if ok:
            return value
        if len(stripped) <= _LITERAL_LIMIT:
            try:
                ok, value = _json_safe(ast.literal_eval(stripped))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                ok = False
            if ok:
                return value
    return raw


def dump_json(value: Any) -> str:
    """Arguments are written like ``json.dumps`` does by default, Unicode kept literally."""
    return json.dumps(value, ensure_ascii=False)


def json_call(text: str) -> tuple[str, str] | None:
    """``{"name": ..., "arguments": {...}}`` inside ``<tool_call>``: (name, arguments JSON)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(name, str) or not name.strip() or not isinstance(arguments, dict):
        return None
    return name.strip(), dump_json(arguments)
