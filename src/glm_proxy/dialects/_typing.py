"""Typing of GLM argument values from the request's tool schemas (glm-format.md section 2).

The GLM chat template writes a string value verbatim and every other value as JSON, so only the
tool's JSON schema can tell the string "42" from the number 42:

1. a key declared with a string type keeps its raw text exactly;
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

    __slots__ = ("_properties",)

    def __init__(self, tools: Sequence[Mapping[str, Any]]) -> None:
        self._properties: dict[str, Mapping[str, Any]] = {}
        for tool in tools:
            function = tool.get("function") if _is_mapping(tool) else None
            if not _is_mapping(function):
                continue
            name = function.get("name")
            if not isinstance(name, str) or not name:
                continue
            parameters = function.get("parameters")
            properties = parameters.get("properties") if _is_mapping(parameters) else None
            self._properties[name] = properties if _is_mapping(properties) else {}

    def is_string(self, tool: str, key: str) -> bool:
        properties = self._properties.get(tool)
        return properties is not None and is_string_schema(properties.get(key))

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


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, (dict, Mapping))  # dict first: the ABC's check is much slower


def is_string_schema(schema: object) -> bool:
    """True when the schema declares a string (alone, in a type list, anyOf/oneOf or enum)."""
    if not _is_mapping(schema):
        return False
    kind = schema.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        return True
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and any(is_string_schema(option) for option in options):
            return True
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(item, str) for item in enum):
        return True
    return isinstance(schema.get("const"), str)


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
