"""The Responses request mapped onto a chat-completions body (fronts.openai_responses.request
and .tools): pure, no server. Item shapes as the API reference and Codex 0.171 send them."""

from __future__ import annotations

from typing import Any

import pytest

from glm_proxy.errors import BadRequest
from glm_proxy.fronts.openai_responses.request import map_request
from glm_proxy.fronts.openai_responses.tools import map_tool_choice, map_tools

SHELL = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command",
    "strict": False,
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
}


def body_of(**data: Any) -> dict[str, Any]:
    return map_request({"model": "glm-4.7", **data}, "backend-model").body


def test_string_input_and_instructions() -> None:
    body = body_of(input="Hi", instructions="Be brief.")
    assert body == {
        "model": "backend-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "stream": False,
    }


def test_codex_items_map_in_order() -> None:
    # The shape of Codex 0.171's second turn: developer and user messages, its reasoning, the
    # call and its output.
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "U"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": "two"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "done"}],
        },
    ]
    messages = body_of(input=items)["messages"]
    assert messages == [
        {"role": "system", "content": "D"},
        {"role": "user", "content": "U"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "think",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": "{}"},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "exec_command", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "assistant", "content": "done"},
    ]


def test_calls_after_the_assistants_text_join_its_message() -> None:
    items = [
        {"role": "user", "content": "x"},
        {"type": "message", "role": "assistant", "content": "Let me look."},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    assert body_of(input=items)["messages"][1] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }


def test_images_become_image_url_parts() -> None:
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
    ]
    message = body_of(input=[{"role": "user", "content": content}])["messages"][0]
    assert message["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]


def test_options() -> None:
    body = body_of(
        input="x",
        stream=True,
        max_output_tokens=100,
        temperature=0.2,
        top_p=0.9,
        tools=[SHELL, {"type": "web_search"}],
        tool_choice="required",
        parallel_tool_calls=False,
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "minimal", "summary": "auto"},
    )
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 100
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "exec_command",
                "description": "Runs a command",
                "parameters": SHELL["parameters"],
            },
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "reasoning_effort" not in body


@pytest.mark.parametrize(("effort", "sent"), [("low", "low"), ("high", "high"), ("xhigh", "high")])
def test_reasoning_effort_maps_to_what_backends_take(effort: str, sent: str) -> None:
    body = body_of(input="x", reasoning={"effort": effort})
    assert body["reasoning_effort"] == sent
    assert "chat_template_kwargs" not in body


def test_history_comes_first() -> None:
    history = [
        {"type": "message", "role": "user", "content": "one"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "1"}]},
    ]
    mapped = map_request({"model": "m", "input": "two"}, "m", history)
    assert [m["content"] for m in mapped.body["messages"]] == ["one", "1", "two"]
    assert len(mapped.items) == 3


def test_namespaces_flatten_and_split_back() -> None:
    names = map_tools(
        [
            SHELL,
            {
                "type": "namespace",
                "name": "multi_agent_v1",
                "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}],
            },
            {
                "type": "namespace",
                "name": "mcp__files__",
                "tools": [{"type": "function", "name": "read"}],
            },
        ]
    )
    flat = [tool["function"]["name"] for tool in names.chat_tools]
    assert flat == ["exec_command", "multi_agent_v1__spawn_agent", "mcp__files__read"]
    assert names.split("multi_agent_v1__spawn_agent") == ("multi_agent_v1", "spawn_agent")
    assert names.split("mcp__files__read") == ("mcp__files__", "read")
    assert names.split("exec_command") == (None, "exec_command")
    # A namespaced call in the history goes back to the backend by its flat name.
    item = {
        "type": "function_call",
        "call_id": "c",
        "namespace": "multi_agent_v1",
        "name": "spawn_agent",
        "arguments": "{}",
    }
    message = body_of(input=[{"role": "user", "content": "x"}, item])["messages"][1]
    assert message["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"


def test_tool_choice_forms() -> None:
    names = map_tools([SHELL, {"type": "function", "name": "other"}, {"type": "web_search"}])
    assert map_tool_choice({"type": "function", "name": "exec_command"}, names)[0] == {
        "type": "function",
        "function": {"name": "exec_command"},
    }
    choice, tools = map_tool_choice(
        {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "other"}],
        },
        names,
    )
    assert choice == "required"
    assert [tool["function"]["name"] for tool in tools] == ["other"]


@pytest.mark.parametrize(
    ("data", "param", "words"),
    [
        ({"input": 3}, "input", "string or an array"),
        ({"input": [{"type": "message", "role": "bot", "content": "x"}]}, "input[0].role", "role"),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
            "call_id",
        ),
        ({"input": [{"type": "local_shell_call"}]}, "input[0].type", "local_shell_call"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]", "item_reference"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
            "input_file",
        ),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens", "positive"),
        ({"input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort", "none, minimal"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name", "name"),
        (
            {
                "input": "x",
                "tools": [{"type": "web_search"}],
                "tool_choice": {"type": "web_search"},
            },
            "tool_choice",
            "server tool 'web_search'",
        ),
        (
            {"input": "x", "tools": [SHELL], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
            "not in tools",
        ),
        ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format", "json_schema"),
        ({"input": []}, "input", "at least one message"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, Any], param: str, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        map_request({"model": "m", **data}, "m")
    assert caught.value.param == param
    assert words in caught.value.message
