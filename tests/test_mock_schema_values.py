"""derive_arguments: values read from the message, valid for the schema, always the same."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from glm_proxy.mock.schema_values import derive_arguments, find_places, name_words, read_clues

WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "The city name"}},
    "required": ["location"],
}

EVERY_TYPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "threshold": {"type": "number"},
        "detailed": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "options": {
            "type": "object",
            "properties": {"lang": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["lang"],
        },
        "note": {"type": ["string", "null"]},
        "nothing": {"type": "null"},
        "count": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "day": {"type": "string", "format": "date"},
        "scores": {"type": "array", "items": {"type": "number"}, "minItems": 2},
    },
    "required": ["city", "unit", "days"],
}
EVERY_TYPE_MESSAGE = "Forecast for Busan in fahrenheit for 5 days above 20.5 from 2024-06-27"


def test_the_readme_weather_tool_gets_the_city_from_the_message() -> None:
    assert derive_arguments(WEATHER, "What's the weather in Seoul?") == {"location": "Seoul"}


def test_every_json_type_is_filled_from_the_message_or_a_stable_value() -> None:
    assert derive_arguments(EVERY_TYPE, EVERY_TYPE_MESSAGE) == {
        "city": "Busan",  # a capitalised word; "Forecast" only opens the sentence
        "unit": "fahrenheit",  # the enum member the message names
        "days": 5,  # the first number that fits the bounds
        "threshold": 20.5,  # the next number
        "detailed": True,
        "tags": ["example tag"],
        "options": {"lang": "example lang", "limit": 1},
        "note": "example note",  # a union with string takes the string
        "nothing": None,
        "count": 1,
        "day": "2024-06-27",
        "scores": [1.5, 2.5],  # distinct items, numbers in the message used up
    }
    assert is_valid(EVERY_TYPE, derive_arguments(EVERY_TYPE, EVERY_TYPE_MESSAGE))


def test_without_clues_every_type_still_gets_valid_values() -> None:
    arguments = derive_arguments(EVERY_TYPE, "")
    assert arguments["city"] == "Seoul"
    assert arguments["unit"] == "celsius"
    assert arguments["days"] == 1
    assert arguments["day"] == "2025-01-01"
    assert is_valid(EVERY_TYPE, arguments)


def test_the_same_input_gives_the_same_arguments() -> None:
    first = derive_arguments(EVERY_TYPE, EVERY_TYPE_MESSAGE)
    again = derive_arguments(json.loads(json.dumps(EVERY_TYPE)), EVERY_TYPE_MESSAGE)
    assert first == again
    assert list(first) == list(again)  # declaration order, too


def test_a_place_override_replaces_the_place_read_from_the_message() -> None:
    assert derive_arguments(WEATHER, "Seoul and Tokyo", place="Tokyo") == {"location": "Tokyo"}


def test_numbers_fill_properties_in_order_and_respect_bounds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "integer", "maximum": 10},
            "c": {"type": "integer"},
        },
    }
    assert derive_arguments(schema, "add 2 and 300 and 7") == {"a": 2, "b": 7, "c": 300}


def test_an_integer_property_skips_decimal_numbers() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert derive_arguments(schema, "take 2.5 then 4") == {"n": 4}


def test_stable_numbers_meet_exclusive_bounds_and_multiples() -> None:
    schema = {
        "type": "object",
        "properties": {
            "low": {"type": "integer", "exclusiveMinimum": 10},
            "high": {"type": "number", "maximum": -3},
            "step": {"type": "integer", "minimum": 1, "multipleOf": 5},
            "tight": {"type": "integer", "minimum": 40, "maximum": 42},
        },
    }
    arguments = derive_arguments(schema, "")
    assert arguments == {"low": 11, "high": -3.0, "step": 5, "tight": 41}
    assert is_valid(schema, arguments)


def test_string_lengths_are_respected() -> None:
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "maxLength": 3},
            "pin": {"type": "string", "minLength": 20},
        },
    }
    arguments = derive_arguments(schema, "")
    assert arguments["code"] == "exa"
    assert len(arguments["pin"]) == 20


def test_string_formats_and_names_pick_matching_clues() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "email": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "path": {"type": "string"},
            "start_date": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
        },
    }
    message = "Mail ann@example.org about https://example.org/x and src/app.py on 2024-01-02"
    assert derive_arguments(schema, message) == {
        "query": message,
        "email": "ann@example.org",
        "url": "https://example.org/x",
        "path": "src/app.py",
        "start_date": "2024-01-02",
        "at": "2024-01-02T12:00:00Z",
        "id": "00000000-0000-4000-8000-000000000000",
    }


def test_an_array_of_places_takes_every_place_mentioned() -> None:
    schema = {
        "type": "object",
        "properties": {"cities": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
    }
    assert derive_arguments(schema, "Compare Seoul, Tokyo and Paris") == {
        "cities": ["Seoul", "Tokyo"]
    }


def test_unions_prefer_their_string_branch_like_the_proxy_typing() -> None:
    schema = {
        "type": "object",
        "properties": {
            "mixed": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "listed": {"type": ["integer", "string"]},
            "numeric": {"oneOf": [{"type": "null"}, {"type": "number"}]},
        },
    }
    assert derive_arguments(schema, "") == {
        "mixed": "example mixed",
        "listed": "example listed",
        "numeric": 1.5,
    }


def test_local_refs_and_all_of_are_followed() -> None:
    schema = {
        "type": "object",
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit"},
            "box": {
                "allOf": [
                    {"type": "object", "properties": {"w": {"type": "integer"}}},
                    {"properties": {"h": {"type": "integer"}}, "required": ["h"]},
                ]
            },
        },
    }
    assert derive_arguments(schema, "") == {"unit": "c", "box": {"w": 1, "h": 1}}


def test_hostile_schemas_give_bounded_values_without_errors() -> None:
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node = deep
    for _ in range(200):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["x"] = child
        node = child
    cyclic = {"type": "object", "properties": {"me": {"$ref": "#"}}}
    huge = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "minItems": 10**9, "items": {"type": "integer"}},
            "text": {"type": "string", "minLength": 10**9},
            "bound": {"type": "integer", "minimum": 10**400},
        },
    }
    json.dumps(derive_arguments(deep, "x"))
    json.dumps(derive_arguments(cyclic, "x"))
    arguments = derive_arguments(huge, "")
    assert len(arguments["items"]) == 64
    assert len(arguments["text"]) == 4096
    assert derive_arguments([], "x") == {}  # type: ignore[arg-type]
    assert derive_arguments({"type": "string"}, "x") == {}
    assert derive_arguments({"type": "object"}, "x") == {}


def test_places_skip_question_words_and_use_sentence_openers_only_alone() -> None:
    assert find_places("What's the weather in New York and Seoul's west?") == (
        "New York",
        "Seoul",
    )
    assert find_places("Busan is far. Tell me about Daegu") == ("Daegu",)
    assert find_places("Busan is far. Is it?") == ("Busan",)
    assert find_places("Compare Seoul and Tokyo") == ("Seoul", "Tokyo")
    assert find_places("how are you") == ()


def test_clues_ignore_numbers_inside_dates_and_words() -> None:
    clues = read_clues("on 2024-06-27 take v2 and 3 or -4.5")
    assert clues.dates == ("2024-06-27",)
    assert clues.numbers == (3, -4.5)


def test_name_words_split_snake_and_camel_case() -> None:
    assert name_words("getCurrentWeather") == ["get", "current", "weather"]
    assert name_words("mcp__github__list_issues") == ["mcp", "github", "list", "issue"]


# A small JSON-schema checker for the subset the derivation supports.
def is_valid(schema: Any, value: Any) -> bool:
    if not isinstance(schema, Mapping):
        return True
    if "const" in schema:
        return bool(value == schema["const"])
    if "enum" in schema:
        return value in schema["enum"]
    if "anyOf" in schema or "oneOf" in schema:
        branches: list[Any] = schema.get("anyOf") or schema.get("oneOf") or []
        return any(is_valid(b, value) for b in branches)
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else kinds
        if not any(_has_type(name, value) for name in names):
            return False
    if isinstance(value, str):
        if schema.get("format") == "date" and not re.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value
        ):
            return False
        return bool(schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf))
    if isinstance(value, int | float) and not isinstance(value, bool):
        checks = [
            value >= schema.get("minimum", -math.inf),
            value <= schema.get("maximum", math.inf),
            value > schema.get("exclusiveMinimum", -math.inf),
            value < schema.get("exclusiveMaximum", math.inf),
        ]
        multiple = schema.get("multipleOf")
        return all(checks) and (multiple is None or (value / multiple) % 1 == 0)
    if isinstance(value, list):
        size_ok = schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf)
        return size_ok and all(is_valid(schema.get("items"), item) for item in value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        if not all(key in value for key in schema.get("required") or []):
            return False
        return all(is_valid(properties.get(key), item) for key, item in value.items())
    return True


def _has_type(name: str, value: Any) -> bool:
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return checks.get(name, True)


def test_the_checker_rejects_invalid_values() -> None:
    assert not is_valid({"type": "integer", "maximum": 3}, 4)
    assert not is_valid({"type": "string"}, 1)
    assert not is_valid(EVERY_TYPE, {"city": "x"})  # required keys missing
    assert not is_valid({"type": "array", "items": {"type": "boolean"}}, [1])


@st.composite
def _bounded_number(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    low = draw(st.none() | st.integers(-50, 50))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["maximum"] = (low if low is not None else 0) + draw(st.integers(2, 40))
    return schema


_LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(0, 5)),
    st.builds(lambda n: {"type": "string", "minLength": n}, st.integers(0, 30)),
    st.just({"type": "string", "format": "date"}),
    _bounded_number("integer"),
    _bounded_number("number"),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": ["integer", "null"]}),
    st.just({"type": ["string", "null"]}),
    st.builds(lambda m: {"enum": m}, st.lists(st.text(min_size=1) | st.integers(), min_size=1)),
    st.builds(lambda c: {"const": c}, st.text() | st.integers()),
    st.just({}),
)
_NAMES = st.sampled_from(["city", "location", "query", "n", "date", "path", "tags", "email", "x"])


def _containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    arrays = st.builds(
        lambda items, low, extra: {
            "type": "array",
            "items": items,
            "minItems": low,
            "maxItems": low + extra,
        },
        children,
        st.integers(0, 3),
        st.integers(0, 3),
    )
    objects = st.dictionaries(_NAMES, children, max_size=4).flatmap(
        lambda props: st.builds(
            lambda required: {"type": "object", "properties": props, "required": required},
            st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
        )
    )
    unions = st.builds(lambda branches: {"anyOf": branches}, st.lists(children, min_size=1))
    return arrays | objects | unions


_SCHEMAS = st.recursive(_LEAVES, _containers, max_leaves=12)
_MESSAGES = st.text() | st.sampled_from(
    ["What's the weather in Seoul?", "3 nights in New York from 2024-06-27, -2 or 7.5", ""]
)


@settings(max_examples=300, deadline=None)
@given(properties=st.dictionaries(_NAMES, _SCHEMAS, max_size=5), message=_MESSAGES)
def test_any_schema_gives_json_that_the_schema_accepts(
    properties: dict[str, Any], message: str
) -> None:
    schema = {"type": "object", "properties": properties, "required": sorted(properties)}
    arguments = derive_arguments(schema, message)
    assert json.loads(json.dumps(arguments, allow_nan=False)) == arguments
    assert is_valid(schema, arguments), arguments
    assert derive_arguments(schema, message) == arguments
