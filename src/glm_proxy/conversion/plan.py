"""How the answers to one request are converted: read once from the backend request body.

Every front maps its request onto a chat-completions body for the backend first; the plan is
read from that body, so it is the same whichever front asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from glm_proxy.dialects import ParserOptions, new_call_id


@dataclass(frozen=True, slots=True)
class Plan:
    """The conversion of one request's answers (see ``plan_for``)."""

    parser: ParserOptions
    dialect: str = "glm"
    parallel_tool_calls: bool = True
    """False: only the first call is kept (the request said ``parallel_tool_calls: false``)."""
    model: str | None = None
    """The request's model: what the answer names when the backend names none."""
    client_model: str | None = None
    """The model the client asked for, when MODEL_ALIASES sent another one to the backend:
    the answer names it, whatever the backend says."""


def plan_for(
    body: Mapping[str, Any],
    *,
    starts_in_reasoning: bool,
    max_buffer: int = 1 << 20,
    dialect: str = "glm",
    id_factory: Callable[[], str] = new_call_id,
    client_model: str | None = None,
) -> Plan:
    """The plan for a (validated) chat-completions body.

    ``starts_in_reasoning``: whether the model's output begins inside the reasoning (GLM-4.7
    and later, or the setting); a request that turns thinking off makes it False.
    ``id_factory``: the ids of converted calls, in the front's own form (``call_...``,
    ``toolu_...``). ``client_model``: the client's model name, when an alias replaced it.
    """
    raw_tools = body.get("tools")
    tools = (
        [tool for tool in raw_tools if isinstance(tool, Mapping)]
        if isinstance(raw_tools, list)
        else []
    )
    model = body.get("model")
    return Plan(
        parser=ParserOptions(
            tools=tools,
            parse_tool_calls=bool(tools) and body.get("tool_choice") != "none",
            starts_in_reasoning=starts_in_reasoning and not thinking_disabled(body),
            max_buffer=max_buffer,
            id_factory=id_factory,
        ),
        dialect=dialect,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        model=model if isinstance(model, str) else None,
        client_model=client_model,
    )


def thinking_disabled(body: Mapping[str, Any]) -> bool:
    """Whether the request turns the model's thinking off, in any of the ways backends take:
    ``chat_template_kwargs.enable_thinking: false`` (vLLM, SGLang, llama.cpp), ``thinking:
    {"type": "disabled"}`` (Z.ai), ``reasoning_effort: "none"``."""
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping) and kwargs.get("enable_thinking") is False:
        return True
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
        return True
    return body.get("reasoning_effort") == "none"
