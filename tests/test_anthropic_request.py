"""The Anthropic Messages request mapped onto the backend's chat-completions body (pure).

``claude_code_turn`` has the shape of what Claude Code 2.1.332 sent in headless mode
(``claude -p``), logged at a local server: system blocks with ``cache_control`` and a billing
header, a ``system`` entry in the middle of ``messages``, an assistant turn with a thinking
block (empty signature), text and a ``tool_use``, a ``tool_result`` with ``cache_control``,
``thinking: {"type": "adaptive", "display": "omitted"}``, ``context_management``,
``output_config``, ``metadata.user_id`` and a deferred tool placeholder.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_proxy.conversion.plan import plan_for
from glm_proxy.errors import BadRequest
from glm_proxy.fronts.anthropic_messages.request import estimate_tokens, map_request

BASH_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "command": {"description": "The command to execute", "type": "string"},
        "timeout": {"description": "Optional timeout in milliseconds", "type": "number"},
    },
    "required": ["command"],
    "additionalProperties": False,
}


def claude_code_turn() -> dict[str, Any]:
    return {
        "model": "claude-opus-5-5",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>\nBe brief.\n</system-reminder>"},
                    {"type": "text", "text": "make the file"},
                ],
            },
            {"role": "system", "content": "# Environment\n - Platform: linux"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I will use Bash.", "signature": ""},
                    {"type": "text", "text": "Writing it."},
                    {
                        "type": "tool_use",
                        "id": "toolu_abc",
                        "name": "Bash",
                        "input": {"command": "echo hi > made.txt", "timeout": 5000},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "tool_use_id": "toolu_abc",
                        "type": "tool_result",
                        "content": "(Bash completed with no output)",
                        "is_error": False,
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332;"},
            {
                "type": "text",
                "text": "You are a Claude agent.",
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": BASH_SCHEMA},
            {
                "name": "DeferredToolPlaceholder",
                "description": "placeholder",
                "input_schema": {"type": "object", "properties": {}},
                "defer_loading": True,
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "metadata": {"user_id": '{"device_id":"abc"}'},
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "stream": True,
    }


def test_a_claude_code_turn_maps_onto_chat_completions() -> None:
    body = map_request(claude_code_turn(), "glm-4.5-air")
    assert body == {
        "model": "glm-4.5-air",
        "messages": [
            {
                "role": "system",
                "content": "x-anthropic-billing-header: cc_version=2.1.332;\n"
                "You are a Claude agent.",
            },
            {"role": "user", "content": "<system-reminder>\nBe brief.\n</system-reminder>\n"
                                        "make the file"},
            {"role": "system", "content": "# Environment\n - Platform: linux"},
            {
                "role": "assistant",
                "content": "Writing it.",
                "reasoning_content": "I will use Bash.",
                "tool_calls": [
                    {
                        "id": "toolu_abc",
                        "type": "function",
                        "function": {
                            "name": "Bash",
                            "arguments": '{"command":"echo hi > made.txt","timeout":5000}',
                        },
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "toolu_abc",
                "content": "(Bash completed with no output)",
            },
        ],
        "max_tokens": 128000,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [
            {"type": "function", "function": {"name": "Bash", "parameters": BASH_SCHEMA,
                                              "description": "Run a command"}},
            {"type": "function", "function": {"name": "DeferredToolPlaceholder",
                                              "parameters": {"type": "object", "properties": {}},
                                              "description": "placeholder"}},
        ],
    }  # fmt: skip
    # The plan reads the typed schemas from the mapped tools: GLM's text values get typed.
    plan = plan_for(body, starts_in_reasoning=True)
    assert plan.parser.parse_tool_calls
    assert plan.parser.starts_in_reasoning


def test_tool_results_come_before_the_rest_of_their_user_turn() -> None:
    data = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Here are both."},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                        {"type": "text", "text": "line 1"}, {"type": "text", "text": "line 2"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                     "content": "command not found"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": "iVBORw0KGgo="}},
                ],
            }
        ],
    }  # fmt: skip
    assert map_request(data, "m")["messages"] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "line 1\nline 2"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: command not found"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here are both."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True},
            {"tool_choice": {"type": "function", "function": {"name": "Bash"}},
             "parallel_tool_calls": False},
        ),
    ],
)  # fmt: skip
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    data = {"model": "m", "max_tokens": 5, "messages": [], "tool_choice": choice}
    data["tools"] = [{"name": "Bash", "input_schema": BASH_SCHEMA}]
    body = map_request(data, "m")
    assert {k: body[k] for k in expected} == expected
    assert "parallel_tool_calls" in body or "parallel_tool_calls" not in expected


def test_tool_results_of_other_kinds_are_read_as_text() -> None:
    # Claude Code 2.1.332's ToolSearch answers with tool_reference blocks (seen on the wire).
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [
            {"type": "tool_reference", "tool_name": "WebFetch"},
            {"type": "something_new", "value": 1},
        ],
    }
    data = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [result]}]}
    assert map_request(data, "m")["messages"] == [
        {
            "role": "tool",
            "tool_call_id": "toolu_1",
            "content": '[tool: WebFetch]\n{"type":"something_new","value":1}',
        }
    ]


def test_sampling_stop_and_thinking_off() -> None:
    data = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "thinking": {"type": "disabled"},
    }
    body = map_request(data, "m")
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "stop": ["\n\nHuman:"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    assert not plan_for(body, starts_in_reasoning=True).parser.starts_in_reasoning


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": 5}, "model"),
        ({"messages": {}}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]},
         "messages.0.content.0.type"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]},
         "messages.0.content.0.text"),
        ({"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]}]},
         "messages.0.content.0.source.data"),
        ({"messages": [{"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "Bash", "input": "ls"}]}]},
         "messages.0.content.0.input"),
        ({"tools": [{"name": "Bash", "input_schema": {"type": "bogus"}}]},
         "tools.0.input_schema.type"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"thinking": {"type": "maybe"}}, "thinking.type"),
        ({"stop_sequences": "STOP"}, "stop_sequences"),
        ({"temperature": "hot"}, "temperature"),
    ],
)  # fmt: skip
def test_bad_fields_are_named(change: dict[str, Any], named: str) -> None:
    data = {"model": "m", "max_tokens": 5, "messages": [], **change}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(BadRequest) as caught:
        map_request(data, "m")
    assert f"'{named}'" in caught.value.message
    assert caught.value.status == 400


def test_count_tokens_is_an_estimate_from_the_mapped_prompt() -> None:
    body = map_request(claude_code_turn(), "m")
    size = len(orjson.dumps(body["messages"])) + len(orjson.dumps(body["tools"]))
    assert estimate_tokens(body) == (size + 3) // 4


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what orjson decodes as integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences",
     "temperature", "thinking", "stream", "role", "content", "type", "text", "tool_use_id",
     "input", "source", "name", "input_schema", "id", "is_error"]
)  # fmt: skip
SHAPED = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELDS, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {"model": st.just("m"), "max_tokens": st.just(5)},
        optional={
            "messages": SHAPED,
            "system": SHAPED,
            "tools": SHAPED,
            "tool_choice": SHAPED,
            "stop_sequences": SHAPED,
            "thinking": SHAPED,
            "stream": SHAPED,
        },
    )
)
def test_any_body_maps_or_is_refused_with_a_named_field(data: dict[str, Any]) -> None:
    refused: BadRequest | None = None
    try:
        body = map_request(data, "m")
    except BadRequest as error:
        refused = error
    if refused is not None:
        assert refused.status == 400
        assert "'" in refused.message  # names the field
    else:
        orjson.dumps(body)  # what goes to the backend is JSON
