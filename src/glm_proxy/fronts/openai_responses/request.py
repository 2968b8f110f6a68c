"""A Responses request as a chat-completions body for the backend: pure, no I/O.

``map_request`` reads the request (``input`` as a string or as items, ``instructions``, tools,
options) and returns the backend body with what the answer needs to know about the request.
Items map onto chat messages in order:

* ``message`` items (roles user, assistant, system, developer; text and image parts) -> chat
  messages, ``developer`` as ``system`` (what chat templates know);
* ``function_call`` items -> ``tool_calls`` of an assistant message (consecutive calls, and
  calls right after the assistant's text, share one message);
* ``function_call_output`` -> a ``tool`` message;
* ``reasoning`` items -> ``reasoning_content`` of the next assistant message (dropped when none
  follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glm_proxy.errors import BadRequest, json_kind
from glm_proxy.fronts.openai_responses.tools import ToolNames, map_tool_choice, map_tools

THINKING_OFF_EFFORTS = ("none", "minimal")
"""``reasoning.effort`` values that turn the model's thinking off."""
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
"""``reasoning.effort`` -> the ``reasoning_effort`` backends accept."""
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text", "refusal")


@dataclass(slots=True)
class MappedRequest:
    """The backend body and what rendering the answer needs."""

    body: dict[str, Any]
    names: ToolNames
    items: list[Any]
    """The conversation's input items (stored history first), as kept for a follow-up."""
    stream: bool


def map_request(
    data: dict[str, Any], backend_model: str, history: list[Any] | None = None
) -> MappedRequest:
    """The backend body for the request ``data`` (raises ``BadRequest`` naming the field).

    ``history``: the input and output items of the response named by
    ``previous_response_id``, which come before this request's input.
    """
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model must be a non-empty string", param="model")
    items = input_items(data.get("input"))
    if history:
        items = history + items
    messages: list[dict[str, Any]] = []
    instructions = data.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise BadRequest(
                f"instructions must be a string, not {json_kind(instructions)}",
                param="instructions",
            )
        if instructions:
            messages.append({"role": "system", "content": instructions})
    _append_messages(items, messages)
    if not messages:
        raise BadRequest("input must hold at least one message", param="input")
    names = map_tools(data.get("tools"))
    choice, tools = map_tool_choice(data.get("tool_choice"), names)
    stream = data.get("stream") is True
    body: dict[str, Any] = {"model": backend_model, "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
        parallel = data.get("parallel_tool_calls")
        if isinstance(parallel, bool):
            body["parallel_tool_calls"] = parallel
    _options(data, body)
    return MappedRequest(body=body, names=names, items=items, stream=stream)


def input_items(value: Any) -> list[Any]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return value
    if value is None:
        return []
    raise BadRequest(
        f"input must be a string or an array of items, not {json_kind(value)}", param="input"
    )


def _options(data: dict[str, Any], body: dict[str, Any]) -> None:
    limit = data.get("max_output_tokens")
    if limit is not None:
        if type(limit) is not int or limit < 1:
            raise BadRequest(
                "max_output_tokens must be a positive integer", param="max_output_tokens"
            )
        body["max_tokens"] = limit
    for name in ("temperature", "top_p"):
        value = data.get(name)
        if value is not None:
            if type(value) not in (int, float):
                raise BadRequest(f"{name} must be a number, not {json_kind(value)}", param=name)
            body[name] = value
    text = data.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        response_format = _response_format(text["format"])
        if response_format is not None:
            body["response_format"] = response_format
    reasoning = data.get("reasoning")
    if isinstance(reasoning, dict):
        effort = reasoning.get("effort")
        if effort in THINKING_OFF_EFFORTS:
            body["chat_template_kwargs"] = {"enable_thinking": False}
        elif effort in _EFFORTS:
            body["reasoning_effort"] = _EFFORTS[effort]
        elif effort is not None:
            raise BadRequest(
                "reasoning.effort must be one of none, minimal, low, medium, high, xhigh",
                param="reasoning.effort",
            )


def _response_format(spec: dict[str, Any]) -> dict[str, Any] | None:
    kind = spec.get("type")
    if kind == "json_schema":
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise BadRequest("text.format.schema must be an object", param="text.format.schema")
        json_schema: dict[str, Any] = {"name": spec.get("name") or "response", "schema": schema}
        if isinstance(spec.get("strict"), bool):
            json_schema["strict"] = spec["strict"]
        return {"type": "json_schema", "json_schema": json_schema}
    if kind == "json_object":
        return {"type": "json_object"}
    if kind in ("text", None):
        return None
    raise BadRequest(
        "text.format.type must be 'text', 'json_object' or 'json_schema'", param="text.format"
    )


def _append_messages(items: list[Any], messages: list[dict[str, Any]]) -> None:
    reasoning: list[str] = []  # reasoning items waiting for the next assistant message
    for position, item in enumerate(items):
        where = f"input[{position}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object, not {json_kind(item)}", param=where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            message = _message(item, where)
            if message["role"] == "assistant" and reasoning:
                message["reasoning_content"] = "".join(reasoning)
                reasoning = []
            messages.append(message)
        elif kind == "function_call":
            call = _call(item, where)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and _open_for_calls(last):
                last.setdefault("tool_calls", []).append(call)
            else:
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
                if reasoning:
                    message["reasoning_content"] = "".join(reasoning)
                    reasoning = []
                messages.append(message)
        elif kind == "function_call_output":
            messages.append(_call_output(item, where))
        elif kind == "reasoning":
            reasoning.append(_reasoning_text(item))
        elif kind == "item_reference":
            raise BadRequest(
                f"{where}: item_reference is not supported; send the item itself "
                "(or name the response with previous_response_id)",
                param=where,
            )
        else:
            raise BadRequest(
                f"{where}.type {kind!r} is not supported (message, function_call, "
                "function_call_output and reasoning items are)",
                param=f"{where}.type",
            )


def _open_for_calls(message: dict[str, Any]) -> bool:
    """Whether an assistant message can take more calls: the calls come after its text, so a
    message with calls answered by tool messages since then is closed (it is not last then)."""
    return "tool_calls" in message or isinstance(message.get("content"), str)


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = _ROLES.get(item.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise BadRequest(
            f"{where}.role must be user, assistant, system or developer", param=f"{where}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise BadRequest(
            f"{where}.content must be a string or an array of parts", param=f"{where}.content"
        )
    parts: list[dict[str, Any]] = []
    for number, part in enumerate(content):
        place = f"{where}.content[{number}]"
        if not isinstance(part, dict):
            raise BadRequest(f"{place} must be an object", param=place)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            text = part.get("text", part.get("refusal"))
            if not isinstance(text, str):
                raise BadRequest(f"{place}.text must be a string", param=f"{place}.text")
            parts.append({"type": "text", "text": text})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise BadRequest(
                    f"{place}.image_url must be a URL or a data URL (file_id is not supported)",
                    param=f"{place}.image_url",
                )
            image: dict[str, Any] = {"url": url}
            if isinstance(part.get("detail"), str):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise BadRequest(
                f"{place}.type {kind!r} is not supported (input_text, output_text and "
                "input_image are)",
                param=f"{place}.type",
            )
    if all(part["type"] == "text" for part in parts):
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.call_id must be a non-empty string", param=f"{where}.call_id")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.name must be a non-empty string", param=f"{where}.name")
    if not isinstance(arguments, str):
        raise BadRequest(f"{where}.arguments must be JSON text", param=f"{where}.arguments")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = ToolNames().flat(namespace, name)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _call_output(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.call_id must be a non-empty string", param=f"{where}.call_id")
    if isinstance(output, list):  # parts: their text
        output = "".join(
            part["text"]
            for part in output
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if not isinstance(output, str):
        raise BadRequest(f"{where}.output must be a string", param=f"{where}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _reasoning_text(item: dict[str, Any]) -> str:
    pieces: list[str] = []
    for key in ("content", "summary"):
        parts = item.get(key)
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                pieces.append(part["text"])
        if pieces:
            break  # the full reasoning when present, else its summary
    return "\n".join(pieces)
