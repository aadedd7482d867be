"""Turn whatever a chain hands the router into messages, attachments and the text to classify."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

from smartroute_graph.core.agent_turns import has_tool_traffic, is_harness_noise, system_text
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.core.errors import EmptyQueryError, InputError, InvalidTextError

__all__ = [
    "RouterInputLike",
    "check_text",
    "classification_text",
    "join_turns",
    "needs_previous_turn",
    "normalise_input",
    "with_attachments",
]

RouterInputLike = str | PromptValue | Sequence[Any] | Mapping[str, Any] | BaseMessage

# Keys a dict input may carry its query under (prompt templates and older APIs differ).
_QUERY_KEYS = ("query", "input", "question", "prompt", "text")
# How much of the previous user turn the classifier sees with a follow-up.
HISTORY_CHARS = 300
# Code points U+D800-U+DFFF are only valid in pairs, in UTF-16; alone in a str they cannot be
# encoded (UTF-8, JSON for a provider, the tokenizer all refuse them).
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalise_input(value: Any) -> tuple[list[AnyMessage], list[Attachment]]:
    """Return the chat messages and attachments carried by ``value``.

    Accepts a string, a message or list of messages (objects, ``(role, text)`` tuples or
    ``{"role", "content"}`` dicts), a ``PromptValue``, or a dict with ``messages`` or one of
    ``query``/``input``/``question``/``prompt``/``text`` plus optional ``attachments``
    (:class:`Attachment` objects, dicts, bytes or paths).
    """
    attachments: list[Attachment] = []
    if isinstance(value, Mapping):
        attachments = [_to_attachment(a) for a in value.get("attachments") or ()]
        if value.get("messages"):
            messages = _convert(value["messages"])
        else:
            query = next((value[k] for k in _QUERY_KEYS if value.get(k) is not None), None)
            if query is None and not attachments:
                raise EmptyQueryError(
                    "the input dict has no query: pass {'query': '...'} (or 'input', "
                    f"'question', 'prompt', 'text', 'messages'); got keys {sorted(value)}"
                )
            messages = _convert(query) if query is not None else [HumanMessage(content="")]
    elif isinstance(value, PromptValue):
        messages = cast(list[AnyMessage], value.to_messages())
    else:
        messages = _convert(value)

    check_text(messages, attachments)
    if not messages or (not any(m.text.strip() for m in messages) and not attachments):
        raise EmptyQueryError(
            "the query is empty: pass a non-empty string, messages with text, or attachments"
        )
    return messages, attachments


def check_text(messages: Sequence[BaseMessage], attachments: Sequence[Attachment] = ()) -> None:
    """Raise :class:`InvalidTextError` if any text in ``messages`` or ``attachments`` is invalid.

    Message content, content blocks and tool-call arguments are checked; invalid text is not valid
    Unicode (it holds a lone surrogate).
    """
    for number, message in enumerate(messages, 1):
        found = _surrogate_in(message.content) or _surrogate_in(
            getattr(message, "tool_calls", None)
        )
        if found is not None:
            _invalid(
                "the query" if len(messages) == 1 else f"message {number} ({message.type})",
                *found,
            )
    for attachment in attachments:
        found = _surrogate_in(attachment.text) or _surrogate_in(attachment.name)
        if found is not None:
            _invalid(f"attachment {attachment.name!r}", *found)


def _surrogate_in(value: Any) -> tuple[str, int] | None:
    """The first lone surrogate in ``value`` and its position in its string.

    ``value`` is a string, or strings nested in lists and dicts.
    """
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return None if match is None else (match.group(), match.start())
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        for item in value:
            found = _surrogate_in(item)
            if found is not None:
                return found
    return None


def _invalid(where: str, char: str, position: int) -> None:
    raise InvalidTextError(
        f"{where} is not valid Unicode: it holds a lone surrogate, U+{ord(char):04X}, at "
        f"character {position}, which cannot be sent to a model. Fix the text's encoding: decode "
        "the source bytes as UTF-8 (or with errors='replace'), and keep surrogate pairs "
        "together (in JSON, an escape like \\uD83D needs the \\uDC00-\\uDFFF escape that "
        "follows it)"
    )


def _convert(value: Any) -> list[AnyMessage]:
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]  # type: ignore[list-item]
    if isinstance(value, PromptValue):
        return list(value.to_messages())  # type: ignore[arg-type]
    if isinstance(value, Sequence):
        try:
            return list(convert_to_messages(value))  # type: ignore[arg-type]
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise InputError(
                f"cannot read the messages: {exc}. Pass message objects, (role, text) "
                "tuples or {'role', 'content'} dicts"
            ) from None
    raise InputError(
        f"cannot route a {type(value).__name__}: pass a string, messages, a PromptValue or a "
        "dict with 'query' or 'messages'"
    )


def _to_attachment(value: Any) -> Attachment:
    if isinstance(value, Attachment):
        return value
    if isinstance(value, bytes):
        return Attachment.from_bytes(value)
    if isinstance(value, Mapping):
        # {"data": <base64 or data URL>, "name": ...} is a file to check and parse; a dict
        # with "kind" is an Attachment already built (a checkpoint, a serialised state).
        encoded = value.get("data")
        if "kind" not in value and isinstance(encoded, str | bytes):
            return Attachment.from_base64(encoded, name=str(value.get("name") or "attachment"))
        try:
            return Attachment.model_validate(value)
        except ValueError as exc:
            raise InputError(f"invalid attachment: {exc}") from None
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            return Attachment.from_base64(value)
        return Attachment.from_path(value)
    raise InputError(
        f"cannot read an attachment of type {type(value).__name__}: pass an Attachment, "
        "bytes, a path, a data: URL or a dict"
    )


# A turn that opens with one of these continues the previous one ("and in Python?", "make it
# shorter", "now add tests"); one that refers back with these words needs it too.
_FOLLOW_UP_OPENERS = re.compile(
    r"^(and|also|but|or|now|then|so|ok|okay|same|again|instead|what about|how about|why|"
    r"make it|make that|do it|do that|do the same|one more|another|more|shorter|longer|simpler|"
    r"in \w+\W*$|continue|go on|rewrite it|redo|try again|explain (it|that|this|why)|"
    r"translate (it|that|this))\b",
    re.IGNORECASE,
)
_BACK_REFERENCES = frozenset(
    [
        "it",
        "its",
        "it's",
        "this",
        "these",
        "those",
        "them",
        "they",
        "their",
        "above",
        "previous",
        "earlier",
        "same",
        "again",
        "former",
        "latter",
        "aforementioned",
    ]
)
_SHORT_TURN_WORDS = 3  # "why?", "in Rust", "thanks a lot": too short to read alone for sure
_CONTEXT_WORDS = 12  # longer turns refer back only through a leading back-reference


def needs_previous_turn(current: str) -> bool:
    """Whether a user turn depends on the turn before it to be understood.

    True for short follow-ups ("and in Python?", "make it shorter", "why?") and for turns
    that refer back ("add error handling to it", "translate that into French"); False for a
    self-contained new request ("Write a short apology note to our customers"), which is
    then read on its own whatever came before it.
    """
    text = current.strip()
    words = re.findall(r"[\w']+", text.lower())
    if len(words) <= _SHORT_TURN_WORDS or _FOLLOW_UP_OPENERS.match(text):
        return True
    if words[0] in _BACK_REFERENCES or words[0] == "that":
        return True
    if len(words) > _CONTEXT_WORDS:
        return False
    return bool(_BACK_REFERENCES.intersection(words)) or words[-1] == "that"


def join_turns(current: str, previous: str | None = None) -> str:
    """The text the classifier reads for a user turn and the user turn before it.

    The previous turn is read only when the current one depends on it
    (:func:`needs_previous_turn`): a self-contained request is read alone. The current turn
    comes first, so it owns the start of the text (where greetings and commands sit) and
    survives truncation; the previous turn follows in brackets, so a follow-up like "now in
    Rust" keeps its topic. Training and routing both use this.
    """
    previous = (previous or "").strip()
    if not previous or not needs_previous_turn(current):
        return current
    return f"{current}\n\n(previous message: {previous[-HISTORY_CHARS:]})"


def classification_text(
    messages: Sequence[BaseMessage], attachments: Sequence[Attachment], *, with_context: bool = True
) -> str:
    """The text the classifier reads: the task, after one marker line per attachment.

    The task is the last user turn that is a real request (harness nudges such as
    "continue" and tool results are skipped: :mod:`agent_turns`), read with the user turn
    before it when ``with_context`` (see :func:`join_turns`). In an agent's conversation
    (tool calls or results in it) the context is the system prompt instead, which says
    what the agent is for.
    """
    user_turns = [
        m.text for m in messages if m.type == "human" and m.text.strip() and not is_harness_noise(m)
    ]
    if not user_turns:
        user_turns = [m.text for m in messages if m.type == "human" and m.text.strip()]
    if not user_turns:
        user_turns = [m.text for m in messages if m.text.strip()]
    if not user_turns:
        text = ""
    else:
        previous: str | None = user_turns[-2] if with_context and len(user_turns) >= 2 else None
        system = system_text(messages) if with_context and has_tool_traffic(messages) else ""
        if system:
            # An agent's system prompt says what the agent is for: always part of the task.
            text = f"{user_turns[-1]}\n\n(system prompt: {system[:HISTORY_CHARS]})"
        else:
            text = join_turns(user_turns[-1], previous)
    if attachments:
        text = "\n".join([*(a.marker for a in attachments), text]).strip()
    return text


def with_attachments(
    messages: list[AnyMessage], attachments: Sequence[Attachment]
) -> list[AnyMessage]:
    """Messages with the attachments added to the last user message as content blocks."""
    if not attachments:
        return messages
    index = max((i for i, m in enumerate(messages) if m.type == "human"), default=-1)
    if index < 0:
        messages = [*messages, HumanMessage(content="")]
        index = len(messages) - 1
    last = messages[index]
    blocks: list[str | dict[str, Any]] = []
    if last.text:
        blocks.append({"type": "text", "text": last.text})
    blocks.extend(a.content_block() for a in attachments)
    updated = last.model_copy(update={"content": blocks})
    return [*messages[:index], updated, *messages[index + 1 :]]
