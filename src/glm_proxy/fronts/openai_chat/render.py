"""Translate a GLM backend's whole chat completion into an OpenAI one: pure functions, no I/O.

``translate_completion`` rewrites a whole (non-streamed) response, and
``stream_translator.StreamTranslator`` a stream chunk by chunk. Both run a
``conversion.session.ChoiceSession`` per choice over the same text and build the result from
the same events, so a stream accumulated by a client equals the non-streamed answer.
"""

from __future__ import annotations

from typing import Any

from glm_proxy.backend.chunks import BACKEND_REASONING_FIELDS, backend_reasoning, text_of
from glm_proxy.conversion.message import assemble_message
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession


def translate_completion(
    response: dict[str, Any],
    plan: Plan,
    reasoning_field: str = "reasoning_content",
    dialects: set[str] | None = None,
) -> tuple[dict[str, Any], int]:
    """Rewrite a whole chat completion; returns it with the number of tool calls converted.

    Every field the translation does not touch is kept (usage, ids, logprobs, extra fields).
    ``reasoning_field``: the message field that gets the reasoning (REASONING_FIELD).
    ``dialects``: if given, gets the names of the dialects whose calls were converted.
    """
    choices = response.get("choices")
    if not isinstance(choices, list):
        return response, 0
    converted = 0
    new_choices: list[Any] = []
    for choice in choices:
        new_choice, calls = _translate_choice(choice, plan, reasoning_field, dialects)
        new_choices.append(new_choice)
        converted += calls
    result = {**response, "choices": new_choices}
    if plan.client_model is not None:
        result["model"] = plan.client_model
    return result, converted


def _translate_choice(
    choice: Any, plan: Plan, reasoning_field: str, dialects: set[str] | None
) -> tuple[Any, int]:
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return choice, 0
    text = text_of(message.get("content"))
    reasoning = backend_reasoning(message)
    if text is None or (
        reasoning is None and any(message.get(k) for k in BACKEND_REASONING_FIELDS)
    ):
        return choice, 0  # content or reasoning in a shape we do not read: leave it alone
    session = ChoiceSession(plan)
    backend_calls = message.get("tool_calls")
    if not isinstance(backend_calls, list):
        backend_calls = []
    events = session.read_whole(text, reasoning, backend_calls)
    assembled = assemble_message(events, reasoning_field)
    new_message = {
        key: value for key, value in message.items() if key not in BACKEND_REASONING_FIELDS
    }
    new_message.update(assembled)
    if assembled["content"] == "" and message.get("content") is None:
        new_message["content"] = None
    new_choice = {**choice, "message": new_message}
    finish = session.finish_reason(choice.get("finish_reason"))
    if finish is not None:
        new_choice["finish_reason"] = finish
    if dialects is not None and session.ended and session.dialect:
        dialects.add(session.dialect)
    return new_choice, session.ended
