from __future__ import annotations

import base64

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from smartroute_graph import (
    Attachment,
    EmptyQueryError,
    InputError,
    InvalidTextError,
    SmartRouteError,
    SmartRouter,
)
from smartroute_graph.core.inputs import classification_text, normalise_input, with_attachments
from tests.support.pdfs import png

PNG = png(2, 2)


def test_string_becomes_one_human_message() -> None:
    messages, attachments = normalise_input("What is 2+2?")
    assert [m.type for m in messages] == ["human"]
    assert messages[0].text == "What is 2+2?"
    assert attachments == []


@pytest.mark.parametrize(
    "value",
    [
        [SystemMessage("be brief"), HumanMessage("hi")],
        [("system", "be brief"), ("human", "hi")],
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    ],
)
def test_message_lists_in_every_shape(value: object) -> None:
    messages, _ = normalise_input(value)
    assert [m.type for m in messages] == ["system", "human"]


def test_prompt_value() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "sys"), ("human", "Tell me {x}")])
    messages, _ = normalise_input(prompt.invoke({"x": "a joke"}))
    assert messages[-1].text == "Tell me a joke"


@pytest.mark.parametrize("key", ["query", "input", "question", "prompt", "text"])
def test_dict_with_query_keys(key: str) -> None:
    messages, _ = normalise_input({key: "hello"})
    assert messages[0].text == "hello"


def test_dict_with_attachments_from_bytes() -> None:
    messages, attachments = normalise_input(
        {"query": "what is in this picture", "attachments": [PNG]}
    )
    assert attachments[0].kind == "image" and attachments[0].mime_type == "image/png"
    sent = with_attachments(messages, attachments)
    blocks = sent[-1].content
    assert isinstance(blocks, list)
    assert blocks[0] == {"type": "text", "text": "what is in this picture"}
    assert blocks[1]["type"] == "image"
    assert base64.b64decode(blocks[1]["base64"]) == PNG


@pytest.mark.parametrize("value", ["", "   \n", [], {"query": ""}, {}])
def test_empty_input_is_a_clear_error(value: object) -> None:
    with pytest.raises(EmptyQueryError, match=r"empty|no query"):
        normalise_input(value)


def test_unroutable_type() -> None:
    with pytest.raises(InputError, match="cannot route a int"):
        normalise_input(42)


def test_bad_message_dicts() -> None:
    with pytest.raises(InputError, match="cannot read the messages"):
        normalise_input([{"role": "wizard", "content": "x"}])


def test_attachment_errors() -> None:
    with pytest.raises(InputError, match="empty"):
        Attachment.from_bytes(b"", name="x.png")
    with pytest.raises(InputError, match="not a supported type"):
        Attachment.from_bytes(b"\xff\xfe\x00\x81binary", name="blob.bin")
    with pytest.raises(InputError, match="does not exist"):
        Attachment.from_path("/nonexistent/file.pdf")


def test_classification_text_keeps_previous_user_turn_and_markers() -> None:
    messages = [
        HumanMessage("write a quicksort in python"),
        AIMessage("def qs..."),
        HumanMessage("now in rust"),
    ]
    pdf = Attachment(kind="pdf", name="r.pdf", mime_type="application/pdf", text="x", pages=3)
    text = classification_text(messages, [pdf])
    assert text == (
        "[attachment: r.pdf (pdf, 3 pages)]\nnow in rust\n\n"
        "(previous message: write a quicksort in python)"
    )


def test_a_greeting_before_a_question_does_not_take_over() -> None:
    from smartroute_graph.classifiers.rules import RulesClassifier

    text = classification_text(
        [
            HumanMessage("hello"),
            AIMessage("Hi! How can I help?"),
            HumanMessage("Prove that sqrt(2) is irrational"),
        ],
        [],
    )
    assert RulesClassifier().classify([text])[0].domain == "math"


LONE = "hi \ud800 there"  # a high surrogate without its partner: not valid Unicode


@pytest.mark.parametrize(
    ("value", "where"),
    [
        pytest.param(LONE, "the query", id="str"),
        pytest.param({"query": LONE}, "the query", id="dict-query"),
        pytest.param(
            [("system", "be brief"), ("human", "fine"), ("ai", "ok"), ("human", LONE)],
            "message 4 (human)",
            id="tuples",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
            "the query",
            id="dict-messages-blocks",
        ),
        pytest.param(
            [SystemMessage("be \udfff brief"), HumanMessage("hi")],
            "message 1 (system)",
            id="system-message",
        ),
        pytest.param(
            [
                HumanMessage("weather?"),
                AIMessage("", tool_calls=[{"name": "w", "args": {"city": "\ud83d"}, "id": "1"}]),
            ],
            "message 2 (ai)",
            id="tool-call-args",
        ),
    ],
)
def test_lone_surrogates_are_a_clear_input_error(value: object, where: str) -> None:
    with pytest.raises(InvalidTextError) as info:
        normalise_input(value)
    message = str(info.value)
    assert message.startswith(f"{where} is not valid Unicode: it holds a lone surrogate, U+")
    assert "decode the source bytes as UTF-8" in message
    assert isinstance(info.value, InputError) and isinstance(info.value, SmartRouteError)


def test_lone_surrogates_in_attachments_are_refused() -> None:
    attachment = Attachment(kind="text", name="notes.txt", mime_type="text/plain", text=LONE)
    with pytest.raises(InvalidTextError, match=r"attachment 'notes\.txt' is not valid Unicode"):
        normalise_input({"query": "summarise", "attachments": [attachment]})


def test_surrogate_pairs_and_other_unicode_pass() -> None:
    messages, _ = normalise_input("smile \U0001f600, café, 東京, \u200b")
    assert messages[0].text == "smile \U0001f600, café, 東京, \u200b"


def test_the_graph_refuses_lone_surrogates_that_bypass_normalise_input(
    router: SmartRouter,
) -> None:
    # LangGraph Studio and the LangGraph API hand the graph its input directly.
    with pytest.raises(InvalidTextError, match="U\\+D800"):
        router.graph.invoke({"query": LONE})
    with pytest.raises(InvalidTextError):
        router.invoke(LONE)
