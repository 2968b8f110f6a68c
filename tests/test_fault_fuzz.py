"""Random backend output through the real proxy: random bytes, random JSON, and random GLM-like
markup (tags, partial tags, think blocks, stop tokens), served as a completion or as an event
stream cut into random deltas and random writes.

The only acceptable outcomes: a correct answer, or an OpenAI-shaped 502 (before a stream
starts) or error event (after). Never a 500, never a hang (the client gives up after 10 s and
the test fails), never lost text: every character of the backend's output that is not markup
reaches the client as content, reasoning, or a tool call's name or arguments, streamed or not.

Bounded: a fixed number of examples, derandomized, so that every run tries the same ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import RunningProxy, start_proxy
from glm_proxy.dialects.glm.markup import STOP_TOKENS
from support.resources import HTTP, Snapshot, settled, wait_for
from support.scripted_backend import Script, ScriptedBackend, completion
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

TAGS = (
    "<tool_call>",
    "</tool_call>",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
    "<think>",
    "</think>",
)
MARKUP = re.compile("|".join(re.escape(token) for token in (*TAGS, *STOP_TOKENS)))
# Keys declared as strings keep their values verbatim; other keys get typed (JSON, then Python
# literals), which rewrites True/False/None: the text check allows for that (``_typed_chars``).
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "command": {"type": "string"}},
            },
        },
    }
    for name in ("get_weather", "run")
]
MODELS = ("glm-4.5-air", "glm-4.7")  # 4.7: the output starts inside the reasoning
EXAMPLES = 150
settings_ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Words without digits, quotes or braces: typing can then only turn True/False/None into
# something else, and ``{`` never makes a call's body read as JSON.
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzTFN_.-:é中🙂", min_size=1, max_size=6)
fragments = st.one_of(
    st.sampled_from(TAGS),
    st.sampled_from(TAGS).flatmap(lambda tag: st.integers(1, len(tag) - 1).map(lambda n: tag[:n])),
    st.sampled_from(STOP_TOKENS),
    st.sampled_from(("get_weather", "run", "city", "command", "True", "None")),
    st.sampled_from((" ", "\n", "\t", "  \n")),
    words,
)
separators = st.sampled_from(("", "\n", " "))
calls = st.builds(
    lambda name, key, value, a, b, c: (
        f"{a}<tool_call>{name}{b}<arg_key>{key}</arg_key>{c}<arg_value>{value}</arg_value>{b}"
        "</tool_call>"
    ),
    st.sampled_from(("get_weather", "run", "other")),
    st.sampled_from(("city", "command", "extra")),
    st.lists(fragments, max_size=4).map("".join),
    separators,
    separators,
    separators,
)
# Runs of random fragments, each followed (or not) by a well-formed call.
markup_texts = st.lists(
    st.tuples(st.lists(fragments, max_size=5).map("".join), st.just("") | calls).map("".join),
    max_size=8,
).map("".join)


@pytest.fixture(scope="module")
def proxy(scripted: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": scripted.url, "UPSTREAM_TIMEOUT": "5"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def baseline(proxy: RunningProxy, scripted: ScriptedBackend) -> Snapshot:
    """What the idle proxy holds before the fuzzing (the last test compares)."""
    return settled(proxy, scripted.port)


def post(proxy: RunningProxy, body: dict[str, Any]) -> Any:
    return HTTP.post(proxy.base_url + "/chat/completions", json=body, timeout=10)


def check_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 502, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def visible(text: str) -> Counter[str]:
    """The characters of ``text`` that must reach the client: no markup, no whitespace."""
    return Counter(char for char in MARKUP.sub("", text) if not char.isspace())


def _typed_chars(value: Any) -> str:
    """The text a typed argument value may have come from (both spellings of a literal)."""
    if isinstance(value, str):
        return value
    if value is True:
        return "True true"
    if value is False:
        return "False false"
    if value is None:
        return "None null"
    if isinstance(value, list):
        return " ".join(_typed_chars(item) for item in value)
    if isinstance(value, dict):
        return " ".join(f"{k} {_typed_chars(v)}" for k, v in value.items())
    return orjson.dumps(value).decode()


def received(message: dict[str, Any]) -> Counter[str]:
    """The characters that reached the client, in every place text can go."""
    parts = [message.get("content") or "", message.get("reasoning_content") or ""]
    for call in message.get("tool_calls") or ():
        function = call["function"]
        parts.append(function["name"])
        arguments = orjson.loads(function["arguments"])
        assert isinstance(arguments, dict)
        parts += [f"{key} {_typed_chars(value)}" for key, value in arguments.items()]
    return visible(" ".join(parts))


def duplicate_keys(text: str) -> bool:
    """Whether a key may appear twice in one call (where the last value wins by design, and
    the first is dropped): twice between two ``<tool_call>`` tags."""
    for call in text.split("<tool_call>"):
        keys = [key.strip() for key in re.findall(r"<arg_key>(.*?)</arg_key>", call, re.S)]
        if len(keys) != len(set(keys)):
            return True
    return False


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    """A message without what may differ between a stream and a completion: the call ids, and
    the spelling of no content (a stream says ``""``; a completion with calls says null)."""
    calls = [{**call, "id": None} for call in message.get("tool_calls") or ()]
    content = message.get("content")
    if calls and not (content or "").strip():
        content = None
    return {**message, "content": content, "tool_calls": calls}


@settings_
@given(
    text=markup_texts,
    reasoning=st.none() | words,
    model=st.sampled_from(MODELS),
    tools=st.booleans(),
    chunk_size=st.integers(1, 12),
    write_size=st.none() | st.integers(1, 64),
    finish=st.sampled_from(("stop", "length")),
)
def test_random_markup_is_answered_in_full_streamed_or_not(
    proxy: RunningProxy,
    scripted: ScriptedBackend,
    baseline: Snapshot,
    text: str,
    reasoning: str | None,
    model: str,
    tools: bool,
    chunk_size: int,
    write_size: int | None,
    finish: str,
) -> None:
    script = Script(
        content=text,
        reasoning=reasoning,
        finish_reason=finish,
        chunk_size=chunk_size,
        write_size=write_size,
    )
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "go"}]}
    if tools:
        body["tools"] = TOOLS
    scripted.reset()
    scripted.script(script, script)
    whole = post(proxy, body)
    streamed = post(proxy, {**body, "stream": True})
    assert whole.status_code == 200, whole.text[:300]
    [choice] = whole.json()["choices"]
    chunks = check_sse_bytes(streamed.content)
    check_stream(chunks)
    [streamed_choice] = accumulate_choices(chunks)
    # The stream and the completion carry the same answer, however the stream was cut.
    assert streamed_choice["finish_reason"] == choice["finish_reason"]
    assert comparable(streamed_choice["message"]) == comparable(choice["message"])
    event(f"{len(choice['message'].get('tool_calls') or ())} calls")
    if duplicate_keys(text):
        event("duplicate keys: text check skipped")
        return
    backend_text = (reasoning or "") + text
    missing = visible(backend_text) - received(choice["message"])
    assert not missing, f"lost {missing} of {backend_text!r}: got {choice['message']!r}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
junk_events = st.lists(
    st.one_of(
        st.binary(max_size=40),
        json_values.map(lambda value: b"data: " + orjson.dumps(value) + b"\n\n"),
        st.sampled_from(
            (
                b"data: [DONE]\n\n",
                b"data: {not json\n\n",
                b": keep-alive\n\n",
                b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n',
                b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
                b'data: {"error": {"message": "boom"}}\n\n',
                b"event: ping\n",
                b"\r\n",
            )
        ),
    ),
    max_size=8,
)


@settings_
@given(
    raw=st.binary(max_size=300) | json_values.map(orjson.dumps) | junk_events.map(b"".join),
    stream=st.booleans(),
)
def test_random_bytes_get_an_answer_or_a_clean_error(
    proxy: RunningProxy, scripted: ScriptedBackend, baseline: Snapshot, raw: bytes, stream: bool
) -> None:
    content_type = "text/event-stream" if stream else "application/json"
    scripted.reset()
    scripted.script(Script(body=raw, content_type=content_type))
    body = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "go"}]}
    response = post(proxy, {**body, "stream": stream})
    if response.status_code != 200:
        error = check_error(response)
        event(f"502 {error['code']}")
        return
    if not stream:
        completion_ = response.json()
        assert isinstance(completion_["choices"], list)
        event("200")
        return
    chunks = check_sse_bytes(response.content)  # [DONE] or an error event ends it
    ended = "done" if response.content.endswith(b"data: [DONE]\n\n") else "error"
    if chunks:
        check_stream(chunks, require_finish=ended == "error")
    else:
        assert ended == "error", "a stream without any chunk must say why"
    event(f"stream ends with {ended}")


def test_the_proxy_holds_nothing_more_after_the_fuzzing(
    proxy: RunningProxy, scripted: ScriptedBackend, baseline: Snapshot
) -> None:
    scripted.reset()
    assert post(proxy, {"model": "glm-4.5-air", "messages": []}).status_code == 200
    assert wait_for(baseline, proxy, scripted.port) == baseline


def test_the_backend_completion_helper_matches_the_scripted_answer() -> None:
    # The fuzzing trusts the scripted backend to serve exactly the text it is given.
    script = Script(content="<tool_call>x", reasoning="why")
    message = completion(script, "m")["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "<tool_call>x", "reasoning_content": "why"}
