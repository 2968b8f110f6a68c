"""A cheap structural check of a tool's ``parameters`` JSON Schema. Pure: no I/O.

Not a JSON Schema validator: it checks only the shape of the keywords that say what a value
is, so that a schema the backend (or the proxy's argument typing) would choke on is refused
with a message naming the place. ``type`` is a JSON type name or a list of them; ``properties``
and the other maps hold schemas; ``items`` is a schema or a list of schemas; ``anyOf`` and its
kin are lists of schemas; ``required`` and ``enum`` are lists; ``$ref`` is a string. Other
keywords pass untouched. A subschema may be ``true`` or ``false``; the root must be an object.

It runs on every request with tools, so it walks the schema once, iteratively, building the
path of a node only when that node is wrong.
"""

from __future__ import annotations

from typing import Any

from glm_proxy.errors import BadRequest, json_kind

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
MAX_DEPTH = 64
"""Most nested schemas (a property's schema is one level below its object's)."""

# What each checked keyword holds; every other keyword passes untouched.
_MAP, _ONE, _LIST, _ITEMS, _TYPE, _NAMES, _ARRAY, _STRING = range(8)
_KEYWORDS = {
    **dict.fromkeys(
        ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"), _MAP
    ),
    **dict.fromkeys(
        (
            "additionalProperties",
            "not",
            "if",
            "then",
            "else",
            "contains",
            "propertyNames",
            "additionalItems",
            "unevaluatedProperties",
            "unevaluatedItems",
        ),
        _ONE,
    ),
    **dict.fromkeys(("anyOf", "oneOf", "allOf", "prefixItems"), _LIST),
    "items": _ITEMS,
    "type": _TYPE,
    "required": _NAMES,
    "enum": _ARRAY,
    "$ref": _STRING,
}
_A_SCHEMA = "a schema (an object, true or false)"
_TYPE_NAMES = "a JSON type name (" + ", ".join(sorted(JSON_TYPES)) + ") or a list of them"

# A path is built as (parent, keyword, member name or index) and joined only for a message.
_Path = tuple[Any, str, str | int | None]
_Stack = list[tuple[dict[str, Any], "_Path | str", int]]


def check_parameters(schema: object, where: str) -> None:
    """Raise ``BadRequest`` naming the first malformed part of ``schema`` (at ``where``)."""
    if not isinstance(schema, dict):
        raise _wrong(where, "a JSON Schema object", schema)
    stack: _Stack = [(schema, where, 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            name = _join(path)
            raise BadRequest(
                f"'{name}' is nested more than {MAX_DEPTH} schemas deep",
                param=name,
                code="invalid_schema",
            )
        below = depth + 1
        for keyword, value in node.items():
            kind = _KEYWORDS.get(keyword)
            if kind is None:
                continue
            if kind == _TYPE:
                if isinstance(value, str):
                    if value in JSON_TYPES:
                        continue
                elif isinstance(value, list) and all(
                    isinstance(k, str) and k in JSON_TYPES for k in value
                ):
                    continue
                raise _wrong((path, "type", None), _TYPE_NAMES, value)
            if kind == _MAP:  # the common fan-out (properties): kept inline
                if not isinstance(value, dict):
                    raise _wrong((path, keyword, None), "an object of schemas", value)
                for name, member in value.items():
                    if isinstance(member, dict):
                        stack.append((member, (path, keyword, name), below))
                    elif not isinstance(member, bool):
                        raise _wrong((path, keyword, name), _A_SCHEMA, member)
            elif kind == _ONE:
                _push(stack, value, (path, keyword, None), below)
            elif kind == _LIST:
                if not isinstance(value, list):
                    raise _wrong((path, keyword, None), "an array of schemas", value)
                for index, option in enumerate(value):
                    _push(stack, option, (path, keyword, index), below)
            elif kind == _ITEMS:
                if isinstance(value, list):  # the tuple form of drafts 4 to 7
                    for index, item in enumerate(value):
                        _push(stack, item, (path, "items", index), below)
                else:
                    _push(stack, value, (path, "items", None), below)
            elif kind == _NAMES:
                if not (isinstance(value, list) and all(isinstance(n, str) for n in value)):
                    raise _wrong((path, "required", None), "an array of property names", value)
            elif kind == _ARRAY:
                if not isinstance(value, list):
                    raise _wrong((path, keyword, None), "an array", value)
            elif not isinstance(value, str):
                raise _wrong((path, keyword, None), "a string", value)


def _push(stack: _Stack, schema: object, path: _Path, depth: int) -> None:
    """Queue a subschema at ``depth``; ``true`` and ``false`` need no check."""
    if isinstance(schema, dict):
        stack.append((schema, path, depth))
    elif not isinstance(schema, bool):
        raise _wrong(path, _A_SCHEMA, schema)


def _join(path: _Path | str) -> str:
    parts: list[str] = []
    while not isinstance(path, str):
        path, keyword, member = path
        if member is None:
            parts.append(f".{keyword}")
        elif isinstance(member, int):
            parts.append(f".{keyword}[{member}]")
        else:
            parts.append(f".{keyword}.{member}")
    parts.append(path)
    return "".join(reversed(parts))


def _wrong(path: _Path | str, expected: str, value: object) -> BadRequest:
    name = _join(path)
    return BadRequest(
        f"'{name}' must be {expected}, got {json_kind(value)}", param=name, code="invalid_schema"
    )
