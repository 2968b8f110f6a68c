"""The tools of a Responses request, for a chat-completions backend: pure, no I/O.

The Responses API writes a function tool flat (``{"type": "function", "name", "parameters"}``),
groups some of them under a namespace (``{"type": "namespace", "name", "tools": [...]}``, as
Codex does for its sub-agent tools) and offers server tools that only OpenAI runs (web search,
file search, code interpreter, ...). The backend gets chat function tools: a namespace's
functions are flattened into one name (``namespace__name``), which ``ToolNames.split`` turns back
into the ``namespace`` and ``name`` of the function call the client routes; server tools are
dropped, and a ``tool_choice`` that names one is an error (the backend cannot run it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glm_proxy.errors import BadRequest, json_kind

NAMESPACE_SEPARATOR = "__"
"""Between a namespace and a function's name in the flattened name the backend sees."""


@dataclass(slots=True)
class ToolNames:
    """The request's tools as the backend sees them, and how to read a call's name back."""

    chat_tools: list[dict[str, Any]] = field(default_factory=list)
    """Chat-completions function tools, in the request's order."""
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Flattened name -> (namespace, function name)."""
    dropped: set[str] = field(default_factory=set)
    """Types (and names, when they have one) of the server tools left out."""

    def split(self, name: str) -> tuple[str | None, str]:
        """The ``(namespace, name)`` of a call to the flattened ``name``."""
        found = self.namespaced.get(name)
        return found if found is not None else (None, name)

    def flat(self, namespace: str | None, name: str) -> str:
        """The name the backend knows a function by."""
        if not namespace:
            return name
        if namespace.endswith(NAMESPACE_SEPARATOR):
            return namespace + name
        return namespace + NAMESPACE_SEPARATOR + name


def map_tools(tools: Any) -> ToolNames:
    """Read the request's ``tools`` (raises ``BadRequest`` naming the bad entry)."""
    names = ToolNames()
    if tools is None:
        return names
    if not isinstance(tools, list):
        raise BadRequest(f"tools must be an array, not {json_kind(tools)}", param="tools")
    for position, tool in enumerate(tools):
        where = f"tools[{position}]"
        if not isinstance(tool, dict):
            raise BadRequest(f"{where} must be an object, not {json_kind(tool)}", param=where)
        kind = tool.get("type")
        if kind == "function":
            names.chat_tools.append(_function(tool, where, None, names))
        elif kind == "namespace":
            _namespace(tool, where, names)
        elif isinstance(kind, str) and kind:
            names.dropped.add(kind)  # a server tool: only OpenAI runs it
            if isinstance(tool.get("name"), str):
                names.dropped.add(tool["name"])
        else:
            raise BadRequest(f"{where}.type must be a string such as 'function'", param=where)
    return names


def _namespace(tool: dict[str, Any], where: str, names: ToolNames) -> None:
    namespace = tool.get("name")
    if not isinstance(namespace, str) or not namespace:
        raise BadRequest(f"{where}.name must be a non-empty string", param=f"{where}.name")
    inner = tool.get("tools")
    if not isinstance(inner, list):
        raise BadRequest(f"{where}.tools must be an array", param=f"{where}.tools")
    for position, function in enumerate(inner):
        place = f"{where}.tools[{position}]"
        if not isinstance(function, dict):
            raise BadRequest(f"{place} must be an object", param=place)
        if function.get("type", "function") != "function":
            names.dropped.add(str(function.get("type")))
            continue
        names.chat_tools.append(_function(function, place, namespace, names))


def _function(
    tool: dict[str, Any], where: str, namespace: str | None, names: ToolNames
) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.name must be a non-empty string", param=f"{where}.name")
    flat = names.flat(namespace, name)
    if namespace:
        names.namespaced[flat] = (namespace, name)
    function: dict[str, Any] = {"name": flat}
    description = tool.get("description")
    if isinstance(description, str):
        function["description"] = description
    parameters = tool.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise BadRequest(
                f"{where}.parameters must be a JSON schema object, not {json_kind(parameters)}",
                param=f"{where}.parameters",
            )
        function["parameters"] = parameters
    return {"type": "function", "function": function}


def map_tool_choice(choice: Any, names: ToolNames) -> tuple[Any, list[dict[str, Any]]]:
    """The chat ``tool_choice`` for the Responses one, and the tools the backend is offered
    (``allowed_tools`` narrows them). A choice naming a tool the backend is not given is a 400."""
    tools = names.chat_tools
    if choice is None or choice in ("auto", "none", "required"):
        return choice, tools
    if not isinstance(choice, dict):
        raise BadRequest(
            f"tool_choice must be 'auto', 'none', 'required' or an object, not {json_kind(choice)}",
            param="tool_choice",
        )
    kind = choice.get("type")
    if kind == "function":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("tool_choice.name must be a non-empty string", param="tool_choice")
        namespace = choice.get("namespace")
        flat = names.flat(namespace if isinstance(namespace, str) else None, name)
        _offered(flat, names, name)
        return {"type": "function", "function": {"name": flat}}, tools
    if kind == "allowed_tools":
        mode = choice.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise BadRequest("tool_choice.mode must be 'auto' or 'required'", param="tool_choice")
        allowed: set[str] = set()
        listed = choice.get("tools")
        for entry in listed if isinstance(listed, list) else []:
            if isinstance(entry, dict) and entry.get("type") == "function":
                flat = names.flat(entry.get("namespace"), str(entry.get("name")))
                _offered(flat, names, str(entry.get("name")))
                allowed.add(flat)
        return mode, [tool for tool in tools if tool["function"]["name"] in allowed]
    if isinstance(kind, str) and kind:
        raise BadRequest(
            f"tool_choice names the server tool {kind!r}, which glm-proxy does not offer to "
            "the backend (only function tools are served)",
            param="tool_choice",
        )
    raise BadRequest("tool_choice.type must be a string such as 'function'", param="tool_choice")


def _offered(flat: str, names: ToolNames, shown: str) -> None:
    if any(tool["function"]["name"] == flat for tool in names.chat_tools):
        return
    if shown in names.dropped:
        raise BadRequest(
            f"tool_choice names {shown!r}, a server tool that glm-proxy does not offer to the "
            "backend (only function tools are served)",
            param="tool_choice",
        )
    raise BadRequest(f"tool_choice names {shown!r}, which is not in tools", param="tool_choice")
