"""An Anthropic Messages request, as the backend's chat-completions body. Pure: no I/O.

``map_request`` reads the request once, left to right: each message, block and tool is looked
at once and nothing is re-serialised but a ``tool_use``'s ``input`` (its JSON text is what the
backend wants), so the work is linear in the request's size (Claude Code sends 80-130 KB a
turn, growing every turn).

The mapping (anthropic-format.md): ``system`` (a string or text blocks) and mid-conversation
``system`` messages become system messages; a user turn's ``tool_result`` blocks become
``tool`` messages, in order, before the rest of that turn; an assistant turn's ``tool_use``
blocks become ``tool_calls`` and its ``thinking`` its ``reasoning_content``; ``tools`` with an
``input_schema`` become function tools (server tools have none and are dropped); fields that
have no chat equivalent (``metadata``, ``cache_control``, ``context_management``,
``output_config``, ...) are accepted and dropped. A wrong field is a ``BadRequest`` that names
it, as ``messages.2.content.0.source.data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

from glm_proxy.errors import BadRequest, json_kind
from glm_proxy.tool_schema import check_parameters

TOOLS_REMEMBERED = 16
"""Distinct ``tools`` arrays whose check is remembered (a client sends the same every turn)."""
_DROPPED_ASSISTANT_BLOCKS = frozenset(
    {
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)
"""Assistant blocks the backend cannot be shown (results of Anthropic's own server tools)."""


def map_request(data: Any, backend_model: str) -> dict[str, Any]:
    """The backend's chat-completions body for the Messages request ``data`` (decoded JSON)."""
    if not isinstance(data, dict):
        raise _wrong("request body", "a JSON object", data)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _missing_or_wrong(data, "model", "a non-empty string")
    max_tokens = data.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        raise _missing_or_wrong(data, "max_tokens", "a positive integer")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        raise _missing_or_wrong(data, "messages", "an array")
    messages: list[dict[str, Any]] = []
    system = data.get("system")
    if system is not None:
        messages.append({"role": "system", "content": _text(system, "system")})
    for number, message in enumerate(raw_messages):
        _map_message(message, f"messages.{number}", messages)
    body: dict[str, Any] = {"model": backend_model, "messages": messages, "max_tokens": max_tokens}
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong("stream", "a boolean", stream)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _wrong("tools", "an array", tools)
        mapped = _mapped_tools(orjson.dumps(tools)) if tools else []
        if mapped:
            body["tools"] = mapped
    _map_tool_choice(data.get("tool_choice"), body)
    stop = data.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _wrong("stop_sequences", "an array of strings", stop)
        if stop:
            body["stop"] = stop
    for name in ("temperature", "top_p", "top_k"):
        value = data.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _wrong(name, "a number", value)
            body[name] = value
    thinking = data.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind not in ("enabled", "disabled", "adaptive"):
            raise _wrong("thinking.type", "'enabled', 'disabled' or 'adaptive'", kind)
        if kind == "disabled":
            body["chat_template_kwargs"] = {"enable_thinking": False}
    return body


def stop_sequences(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The request's ``stop_sequences`` (checked by ``map_request``)."""
    stop = data.get("stop_sequences")
    return tuple(stop) if isinstance(stop, list) else ()


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """An estimate of the prompt's tokens for ``count_tokens``: the JSON text of what the model
    reads (messages and tools) at about four bytes a token. Not the backend's tokenizer."""
    size = len(orjson.dumps(body.get("messages") or []))
    tools = body.get("tools")
    if tools:
        size += len(orjson.dumps(tools))
    return max(1, (size + 3) // 4)


# -- messages ------------------------------------------------------------------------------


def _map_message(message: Any, where: str, out: list[dict[str, Any]]) -> None:
    if not isinstance(message, dict):
        raise _wrong(where, "an object", message)
    role = message.get("role")
    content = message.get("content")
    if role == "user":
        _map_user(content, f"{where}.content", out)
    elif role == "assistant":
        _map_assistant(content, f"{where}.content", out)
    elif role == "system":
        out.append({"role": "system", "content": _text(content, f"{where}.content")})
    else:
        raise _missing_or_wrong(message, "role", "'user', 'assistant' or 'system'", where)


def _map_user(content: Any, where: str, out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    if not isinstance(content, list):
        raise _wrong(where, "a string or an array of content blocks", content)
    parts: list[dict[str, Any]] = []
    for number, block in enumerate(content):
        at = f"{where}.{number}"
        kind = _block_type(block, at)
        if kind == "text":
            parts.append({"type": "text", "text": _string(block, "text", at)})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "tool_result":
            # Tool messages answer the assistant message right before them: they come first.
            _tool_result(block, at, out, parts)
        elif kind == "document":
            parts.append({"type": "text", "text": _document(block, at)})
        else:
            raise BadRequest(
                f"'{at}.type': content blocks of type {kind!r} are not supported in user "
                "messages (text, image, document, tool_result are)",
                param=f"{at}.type",
            )
    if parts:
        if all(part["type"] == "text" for part in parts):
            out.append({"role": "user", "content": "\n".join(part["text"] for part in parts)})
        else:
            out.append({"role": "user", "content": parts})


def _tool_result(
    block: dict[str, Any], at: str, out: list[dict[str, Any]], parts: list[dict[str, Any]]
) -> None:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _missing_or_wrong(block, "tool_use_id", "a non-empty string", at)
    content = block.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for number, item in enumerate(content):
            item_at = f"{at}.content.{number}"
            kind = _block_type(item, item_at)
            if kind == "text":
                texts.append(_string(item, "text", item_at))
            elif kind == "image":
                parts.append(_image(item, item_at))  # shown to the model in the user turn
                texts.append("[image]")
            elif kind == "document":
                texts.append(_document(item, item_at))
            elif kind == "tool_reference" and isinstance(item.get("tool_name"), str):
                # Claude Code's ToolSearch answers with the tools it loaded.
                texts.append(f"[tool: {item['tool_name']}]")
            else:  # another kind of result: the model reads it as JSON rather than not at all
                texts.append(orjson.dumps(item).decode())
    elif content is not None:
        raise _wrong(f"{at}.content", "a string or an array of content blocks", content)
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    out.append({"role": "tool", "tool_call_id": call_id, "content": text})


def _map_assistant(content: Any, where: str, out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        out.append({"role": "assistant", "content": content})
        return
    if not isinstance(content, list):
        raise _wrong(where, "a string or an array of content blocks", content)
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for number, block in enumerate(content):
        at = f"{where}.{number}"
        kind = _block_type(block, at)
        if kind == "text":
            texts.append(_string(block, "text", at))
        elif kind == "tool_use":
            calls.append(_tool_use(block, at))
        elif kind == "thinking":
            thinking.append(_string(block, "thinking", at))
        elif kind not in _DROPPED_ASSISTANT_BLOCKS:
            raise BadRequest(
                f"'{at}.type': content blocks of type {kind!r} are not supported in assistant "
                "messages (text, tool_use, thinking are)",
                param=f"{at}.type",
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
        if not message["content"]:
            message["content"] = None
    out.append(message)


def _tool_use(block: dict[str, Any], at: str) -> dict[str, Any]:
    call_id = block.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise _missing_or_wrong(block, "id", "a non-empty string", at)
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise _missing_or_wrong(block, "name", "a non-empty string", at)
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise _wrong(f"{at}.input", "an object", arguments)
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


# -- blocks --------------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    """A system prompt: a string, or text blocks (joined by line breaks)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _wrong(where, "a string or an array of text blocks", value)
    texts = []
    for number, block in enumerate(value):
        at = f"{where}.{number}"
        if _block_type(block, at) != "text":
            raise _wrong(f"{at}.type", "'text'", block.get("type"))
        texts.append(_string(block, "text", at))
    return "\n".join(texts)


def _block_type(block: Any, at: str) -> str:
    if not isinstance(block, dict):
        raise _wrong(at, "a content block object", block)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise _missing_or_wrong(block, "type", "a string", at)
    return kind


def _string(block: dict[str, Any], name: str, at: str) -> str:
    value = block.get(name)
    if not isinstance(value, str):
        raise _missing_or_wrong(block, name, "a string", at)
    return value


def _image(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _missing_or_wrong(block, "source", "an object", at)
    kind = source.get("type")
    if kind == "base64":
        media = _string(source, "media_type", f"{at}.source")
        data = _string(source, "data", f"{at}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if kind == "url":
        return {"type": "image_url", "image_url": {"url": _string(source, "url", f"{at}.source")}}
    raise _wrong(f"{at}.source.type", "'base64' or 'url'", kind)


def _document(block: dict[str, Any], at: str) -> str:
    """A document the backend can read: plain text (a PDF cannot go to a chat backend)."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        return _string(source, "data", f"{at}.source")
    if isinstance(source, dict) and source.get("type") == "content":
        content = source.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                _string(item, "text", f"{at}.source.content.{number}")
                for number, item in enumerate(content)
                if isinstance(item, dict) and item.get("type") == "text"
            )
    kind = source.get("type") if isinstance(source, dict) else None
    raise BadRequest(
        f"'{at}.source.type': documents of type {kind!r} are not supported (text and content "
        "documents are: a chat-completions backend cannot read PDFs)",
        param=f"{at}.source.type",
    )


# -- tools ---------------------------------------------------------------------------------


@lru_cache(maxsize=TOOLS_REMEMBERED)
def _mapped_tools(text: bytes) -> list[dict[str, Any]]:
    """The function tools for the ``tools`` array written as ``text`` (checked once per
    distinct array; callers only read the result)."""
    out: list[dict[str, Any]] = []
    for number, tool in enumerate(orjson.loads(text)):
        at = f"tools.{number}"
        if not isinstance(tool, dict):
            raise _wrong(at, "an object", tool)
        schema = tool.get("input_schema")
        if schema is None:
            continue  # a server tool (web_search_..., bash_...): Anthropic's own, not the model's
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _missing_or_wrong(tool, "name", "a non-empty string", at)
        check_parameters(schema, f"{at}.input_schema")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        description = tool.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise _wrong(f"{at}.description", "a string", description)
            function["description"] = description
        out.append({"type": "function", "function": function})
    return out


def _map_tool_choice(choice: Any, body: dict[str, Any]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    mapped: Any
    if kind == "auto":
        mapped = "auto"
    elif kind == "any":
        mapped = "required"
    elif kind == "none":
        mapped = "none"
    elif kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise _missing_or_wrong(choice, "name", "a non-empty string", "tool_choice")
        mapped = {"type": "function", "function": {"name": name}}
    else:
        raise _wrong("tool_choice.type", "'auto', 'any', 'tool' or 'none'", kind)
    if "tools" not in body:
        return  # backends refuse a tool_choice without tools
    body["tool_choice"] = mapped
    if choice.get("disable_parallel_tool_use") is True:
        body["parallel_tool_calls"] = False


# -- errors --------------------------------------------------------------------------------


def _wrong(name: str, expected: str, value: object) -> BadRequest:
    return BadRequest(f"'{name}' must be {expected}, got {json_kind(value)}", param=name)


def _missing_or_wrong(
    data: Mapping[str, Any], name: str, expected: str, where: str | None = None
) -> BadRequest:
    full = f"{where}.{name}" if where else name
    if name not in data:
        return BadRequest(f"missing required field '{full}'", param=full)
    return _wrong(full, expected, data[name])
