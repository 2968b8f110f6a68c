"""Every dialect's tool calls end to end: a scripted backend writes the calls as text the way
each model's chat template does (the dialect's own renderer), and the proxy serves them to the
real OpenAI SDK as tool calls (whether a setting names the model's dialect or the output reveals
it), to the real Anthropic SDK as tool_use blocks and through the Responses API as function
calls, streamed and not."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from conftest import RunningProxy
from glm_proxy.demo import DIALECT_MODELS
from glm_proxy.dialects import known_dialects
from support.scripted_backend import Script, ScriptedBackend

SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
}
TOOLS = [{"type": "function", "function": {"name": "write_file", "parameters": SCHEMA}}]
FILE = "def main():\n    print('héllo <b>')\n" * 200  # long enough to stream in pieces
ARGUMENTS = {"path": "007.py", "content": FILE}
OUTPUTS: dict[str, tuple[str, Callable[..., str]]] = {
    dialect: (
        DIALECT_MODELS.get(dialect, "glm-4.5-air"),
        importlib.import_module(f"glm_proxy.dialects.{dialect}.render").render_output,
    )
    for dialect in known_dialects()
}
"""Per dialect: a model name of its (named by DIALECT_MODELS by default) and its renderer."""


def ask(proxy: RunningProxy, model: str, stream: bool) -> tuple[Any, int]:
    """The completion, and how many chunks carried argument pieces (streamed)."""
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    request: dict[str, Any] = {"model": model, "messages": [], "tools": TOOLS}
    if not stream:
        return client.chat.completions.create(**request), 0
    pieces = 0
    with client.chat.completions.stream(**request) as events:
        for event in events:
            if event.type == "tool_calls.function.arguments.delta":
                pieces += 1
        return events.get_final_completion(), pieces


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("detected", [False, True], ids=["named", "detected"])
@pytest.mark.parametrize("dialect", sorted(OUTPUTS))
def test_calls_reach_the_sdk_as_tool_calls(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
    detected: bool,
    stream: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy.access")
    model, render = OUTPUTS[dialect]
    # a model name no default names: the setting, or else the output, says the dialect
    settings = {"DIALECT_MODELS": "" if detected else f"{model}={dialect}"}
    if detected and dialect == "glm":
        settings["GLM_MODELS"] = "no-such-model"  # no setting names it
    proxy = make_proxy(**settings)
    # (detection reads the reasoning in <think> as content until the first opener)
    reasoning = None if detected else "A file is needed."
    output = render("Writing it.", [("write_file", ARGUMENTS)], reasoning=reasoning)
    # paced, so that the pieces the backend writes reach the proxy one by one
    backend.script(Script(content=output, chunk_size=200, delay=0.005))
    completion, pieces = ask(proxy, model, stream)
    message = completion.choices[0].message
    # (detection passes the text before the opener on as it reads it, its line break too)
    assert (message.content or "").rstrip() == "Writing it."
    if not detected:
        assert message.content == "Writing it."
        assert (message.model_extra or {})["reasoning_content"] == reasoning
    (call,) = message.tool_calls or []
    assert call.function.name == "write_file"
    assert json.loads(call.function.arguments) == ARGUMENTS
    assert completion.choices[0].finish_reason == "tool_calls"
    if stream:
        assert pieces > 10, "the file did not stream as it arrived"
    lines = [r.getMessage() for r in caplog.records if r.name == "glm_proxy.access"]
    assert lines[-1].endswith(f"1 tool call ({dialect})")


@pytest.mark.parametrize("dialect", sorted(OUTPUTS))
def test_a_cut_off_call_is_no_call(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend, dialect: str
) -> None:
    model, render = OUTPUTS[dialect]
    proxy = make_proxy(DIALECT_MODELS=f"{model}={dialect}")
    output = render("", [("write_file", ARGUMENTS)])
    cut = output[: output.index("print") + 5]
    backend.script(Script(content=cut, finish_reason="length"))
    completion, _ = ask(proxy, model, stream=False)
    message = completion.choices[0].message
    assert not message.tool_calls
    # The cut call's text comes back as content (without the special tokens of Kimi-K2 and
    # DeepSeek, which are no text): nothing of it is lost.
    assert "print" in (message.content or "")
    if dialect not in ("kimi_k2", "deepseek"):
        assert (message.content or "").strip() == cut.strip()
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("dialect", sorted(OUTPUTS))
def test_calls_reach_the_anthropic_sdk_as_tool_use_blocks(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    dialect: str,
    stream: bool,
) -> None:
    model, render = OUTPUTS[dialect]
    proxy = make_proxy(DIALECT_MODELS=f"{model}={dialect}")
    output = render("Writing it.", [("write_file", ARGUMENTS)], reasoning="A file is needed.")
    backend.script(Script(content=output, chunk_size=200, delay=0.005))
    client = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": "Write the file."}],
        "tools": [{"name": "write_file", "input_schema": SCHEMA}],
    }
    try:
        if stream:
            with client.messages.stream(**request) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)
    finally:
        client.close()
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, call = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "A file is needed."
    assert text.type == "text"
    assert text.text == "Writing it."
    assert call.type == "tool_use"
    assert call.id.startswith("toolu_")
    assert (call.name, call.input) == ("write_file", ARGUMENTS)
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("dialect", sorted(OUTPUTS))
def test_calls_reach_the_responses_api_as_function_calls(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    dialect: str,
    stream: bool,
) -> None:
    model, render = OUTPUTS[dialect]
    proxy = make_proxy(DIALECT_MODELS=f"{model}={dialect}")
    output = render("Writing it.", [("write_file", ARGUMENTS)], reasoning="A file is needed.")
    backend.script(Script(content=output, chunk_size=200, delay=0.005))
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    tool: Any = {"type": "function", "name": "write_file", "parameters": SCHEMA}
    request: dict[str, Any] = {"model": model, "input": "Write the file.", "tools": [tool]}
    if stream:
        with client.responses.stream(**request) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**request)
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output_text == "Writing it."
    call = response.output[2]
    assert call.type == "function_call"
    assert call.name == "write_file"
    assert json.loads(call.arguments) == ARGUMENTS
