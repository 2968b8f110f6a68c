from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glm_proxy.errors import BadRequest
from glm_proxy.tool_schema import MAX_DEPTH, check_parameters

WHERE = "tools[0].function.parameters"


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"type": "object", "properties": {}},
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "a city"},
                "days": {"type": ["integer", "null"], "minimum": 1},
                "unit": {"enum": ["c", "f"], "default": "c"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "pair": {"type": "array", "items": [{"type": "number"}, True]},
                "where": {"anyOf": [{"$ref": "#/$defs/place"}, {"type": "null"}]},
                # Property names may be keywords: they are names here, not keywords.
                "type": {"type": "string"},
                "properties": {"type": "object", "additionalProperties": False},
            },
            "required": ["city"],
            "additionalProperties": False,
            "$defs": {"place": {"type": "object", "properties": {"lat": {"type": "number"}}}},
        },
        {"type": "object", "not": {"required": ["a"]}, "if": True, "then": False},
        {"properties": {"x": {"enum": [1, {"type": 5}]}}},  # enum values are data, not schemas
    ],
)
def test_valid_schemas_pass(schema: dict[str, Any]) -> None:
    check_parameters(schema, WHERE)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], f"'{WHERE}' must be a JSON Schema object, got an array"),
        (
            {"type": "dict"},
            f"'{WHERE}.type' must be a JSON type name (array, boolean, integer, null, number, "
            "object, string) or a list of them, got a string",
        ),
        ({"type": ["string", "text"]}, f"'{WHERE}.type' must be a JSON type name"),
        ({"type": 3}, f"'{WHERE}.type' must be a JSON type name"),
        ({"properties": []}, f"'{WHERE}.properties' must be an object of schemas, got an array"),
        (
            {"properties": {"city": "string"}},
            f"'{WHERE}.properties.city' must be a schema (an object, true or false), got a string",
        ),
        (
            {"properties": {"a": {"properties": {"b": {"type": "str"}}}}},
            f"'{WHERE}.properties.a.properties.b.type' must be a JSON type name",
        ),
        ({"required": "city"}, f"'{WHERE}.required' must be an array of property names"),
        ({"required": ["a", 1]}, f"'{WHERE}.required' must be an array of property names"),
        ({"required": True}, f"'{WHERE}.required' must be an array of property names"),
        ({"enum": "a"}, f"'{WHERE}.enum' must be an array, got a string"),
        ({"anyOf": {"type": "string"}}, f"'{WHERE}.anyOf' must be an array of schemas"),
        (
            {"oneOf": [{"type": "string"}, 5]},
            f"'{WHERE}.oneOf[1]' must be a schema (an object, true or false), got a number",
        ),
        ({"items": "string"}, f"'{WHERE}.items' must be a schema"),
        ({"items": [{}, []]}, f"'{WHERE}.items[1]' must be a schema"),
        ({"additionalProperties": None}, f"'{WHERE}.additionalProperties' must be a schema"),
        ({"$ref": 1}, f"'{WHERE}.$ref' must be a string, got a number"),
        ({"$defs": {"a": {"type": "x"}}}, f"'{WHERE}.$defs.a.type' must be a JSON type name"),
    ],
)
def test_a_malformed_schema_names_the_place(schema: object, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        check_parameters(schema, WHERE)
    assert raised.value.message.startswith(message)
    assert raised.value.param == message.split("'")[1]
    assert (raised.value.status, raised.value.code) == (400, "invalid_schema")


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 1):
        schema = {"type": "array", "items": schema}
    return schema


def test_nesting_is_limited() -> None:
    check_parameters(nested(MAX_DEPTH), WHERE)
    with pytest.raises(BadRequest, match=f"is nested more than {MAX_DEPTH} schemas deep"):
        check_parameters(nested(MAX_DEPTH + 1), WHERE)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "properties", "items", "anyOf", "required", "enum", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(json_values)
def test_any_json_value_passes_or_is_refused_with_bad_request(value: object) -> None:
    refused: BadRequest | None = None
    try:
        check_parameters(value, WHERE)
    except BadRequest as error:
        refused = error
    assert refused is None or str(refused.param).startswith(WHERE)
