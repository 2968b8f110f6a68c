"""Argument typing by the request's tool schemas (glm-format.md section 2), shared by dialects."""

from __future__ import annotations

import enum
from typing import Any

import openai
import pydantic
import pytest

from glm_proxy.dialects._typing import ToolSchemas, convert_value, is_string_schema

ROOT = {
    "$defs": {
        "Zip": {"enum": ["94110", "10001"], "type": "string"},
        "Count": {"type": "integer"},
        "Alias": {"$ref": "#/$defs/Zip"},
        "Loop": {"$ref": "#/$defs/Loop"},
    },
    "definitions": {"Code": {"const": "007"}},
}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        {"type": ["string", "null"]},
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"oneOf": [{"type": "string"}]},
        {"allOf": [{"minLength": 1}, {"type": "string"}]},
        {"enum": ["001", "true"]},
        {"const": "42"},
        {"$ref": "#/$defs/Zip"},
        {"$ref": "#/$defs/Alias"},
        {"$ref": "#/definitions/Code"},
        {"anyOf": [{"$ref": "#/$defs/Zip"}, {"type": "null"}]},
        {"allOf": [{"$ref": "#/$defs/Zip"}]},
    ],
)
def test_string_schemas(schema: dict[str, Any]) -> None:
    assert is_string_schema(schema, ROOT)


@pytest.mark.parametrize(
    "schema",
    [
        None,
        True,
        {},
        {"type": "integer"},
        {"enum": [1, "a"]},
        {"const": 3},
        {"$ref": "#/$defs/Count"},
        {"$ref": "#/$defs/Missing"},
        {"$ref": "#/$defs/Loop"},  # a cycle ends, as not a string
        {"$ref": "other.json#/Zip"},
        {"$ref": "#/$defs/Zip/enum/9"},
        {"allOf": [{"$ref": "#/$defs/Count"}]},
    ],
)
def test_other_schemas(schema: object) -> None:
    assert not is_string_schema(schema, ROOT)


def test_a_reference_without_the_root_is_not_followed() -> None:
    assert not is_string_schema({"$ref": "#/$defs/Zip"})


class Zip(enum.StrEnum):
    MISSION = "94110"
    CHELSEA = "10001"


class Lookup(pydantic.BaseModel):
    zip: Zip
    note: str
    count: int
    other: Zip | None = None


def test_pydantic_function_tool_enums_of_digit_strings_are_strings() -> None:
    schemas = ToolSchemas([openai.pydantic_function_tool(Lookup)])
    assert schemas.is_string("Lookup", "zip")
    assert schemas.is_string("Lookup", "note")
    assert schemas.is_string("Lookup", "other")
    assert not schemas.is_string("Lookup", "count")
    assert not schemas.is_string("Lookup", "undeclared")
    assert not schemas.is_string("Nope", "zip")
    assert schemas.names == ("Lookup",)


def test_malformed_tools_are_skipped() -> None:
    schemas = ToolSchemas(
        [
            {"type": "function"},
            {"function": {"name": ""}},
            {"function": {"name": "f", "parameters": "no"}},
            {"function": {"name": "g", "parameters": {"properties": []}}},
        ]
    )
    assert schemas.names == ("f", "g")
    assert not schemas.is_string("f", "x")
    assert schemas.single_property("g") is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("42", 42),
        (" 3.5 ", 3.5),
        ("true", True),
        ("True", True),
        ("None", None),
        ("['a', 'b']", ["a", "b"]),
        ("{'k': (1, 2)}", {"k": [1, 2]}),
        ("NaN", "NaN"),
        ("1e999", "1e999"),
        ("[1e999]", "[1e999]"),
        ("{1: 2}", "{1: 2}"),
        ("plain text", "plain text"),
        ("", ""),
    ],
)
def test_values_of_other_types(raw: str, value: object) -> None:
    assert convert_value(raw) == value
