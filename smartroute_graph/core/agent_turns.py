"""Agent conversations: which turn is the task, and whether a tool loop is under way.

In a tool-calling agent the last message is rarely the user's request: it is a tool result,
or a harness's nudge ("continue", "go on"), or a user message that only carries tool results
(Anthropic's ``tool_result`` blocks). The router decides on the task, the latest *real* user
request (with the system prompt as its context), and a conversation inside a tool loop keeps
the model that started the loop; a new user request may be routed anew.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["has_tool_traffic", "is_harness_noise", "latest_request", "loop_model", "system_text"]

# Whole-message nudges an agent harness sends to keep a model going (not a task).
_NUDGE = re.compile(
    r"^\W*(?:please\s+)?(?:continue|go on|keep going|proceed|carry on|resume|go ahead|next"
    r"|next step|continue please|keep working|do it|ok(?:ay)?,?\s*(?:continue|go on|proceed))"
    r"\W*$",
    re.IGNORECASE,
)
_TOOL_BLOCKS = frozenset({"tool_result", "function_call_output", "tool_call", "tool_use"})


def is_harness_noise(message: BaseMessage) -> bool:
    """Whether a user message is agent plumbing, not a request.

    Empty, a nudge such as "continue", or only tool results (content blocks of type
    ``tool_result``).
    """
    if message.type != "human":
        return False
    content = message.content
    if isinstance(content, list) and content:
        kinds = {b.get("type") for b in content if isinstance(b, Mapping)}
        if kinds and kinds <= _TOOL_BLOCKS:
            return True
    text = message.text.strip()
    return not text or bool(_NUDGE.match(text))


def latest_request(messages: Sequence[BaseMessage]) -> int | None:
    """The index of the latest real user request (skipping harness noise), else None."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.type == "human" and not is_harness_noise(message):
            return index
    return None


def has_tool_traffic(messages: Sequence[BaseMessage]) -> bool:
    """Whether the conversation is an agent's: tool calls or tool results in it."""
    return any(m.type == "tool" or getattr(m, "tool_calls", None) for m in messages)


def system_text(messages: Sequence[BaseMessage]) -> str:
    """The system prompt(s) of the conversation, joined."""
    return "\n".join(m.text for m in messages if m.type == "system" and m.text.strip())


def loop_model(messages: Sequence[BaseMessage]) -> str | None:
    """The model working on the current request, inside its tool loop.

    The model that is working on the current request, when the conversation is inside its tool loop:
    after the latest real user request, the router already answered (with tool calls) and tool
    results or nudges followed. None at a new request (route it anew).
    """
    start = latest_request(messages)
    if start is None or start == len(messages) - 1:
        return None
    for message in reversed(messages[start + 1 :]):
        if message.type == "ai":
            meta: Any = message.response_metadata.get("smartroute") or {}
            model = meta.get("model") if isinstance(meta, Mapping) else None
            return str(model) if model else None
    return None
