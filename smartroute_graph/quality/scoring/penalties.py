"""Penalties: the errors that make an answer worth re-asking, each with its reason in words.

:func:`answer_penalties` finds what is wrong in the answer itself (a refusal, a truncated
ending, looping repetition, wrong arithmetic, code that does not parse, unbalanced brackets);
:func:`query_penalties` what the answer does not do that the query asked (its language, its
topic, a format or a length). The amounts are listed in the package docstring
(:mod:`smartroute_graph.quality.scoring`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict

from smartroute_graph.core.taxonomy import Domain
from smartroute_graph.quality.scoring.answer import Answer, truncation
from smartroute_graph.quality.scoring.arithmetic import ArithmeticClaim
from smartroute_graph.quality.scoring.language import detect_language
from smartroute_graph.quality.scoring.query import Constraint, Query
from smartroute_graph.quality.scoring.rubric import Unit

__all__ = ["PENALTY_CODES", "Penalty", "PenaltyCode", "answer_penalties", "query_penalties"]

PenaltyCode = Literal[
    "empty",
    "refusal",
    "disclaimer",
    "truncated",
    "repetition",
    "wrong_arithmetic",
    "code_syntax",
    "missing_code",
    "unbalanced",
    "wrong_language",
    "off_topic",
    "format",
    "length",
]
PENALTY_CODES: Final[tuple[PenaltyCode, ...]] = get_args(PenaltyCode)


class Penalty(BaseModel):
    """One detected problem: ``amount`` is subtracted from the weighted dimension mean.

    Attributes:
        code: What kind of problem (one of :data:`PENALTY_CODES`).
        amount: How much it costs, in [0, 1].
        reason: What was wrong, for a person reading a trace.
    """

    model_config = ConfigDict(frozen=True)

    code: PenaltyCode
    amount: Unit
    reason: str
    """What was wrong, for a person reading a trace."""


_REFUSAL = re.compile(
    r"\b(?:i (?:cannot|can't|can ?not|am unable to|'m unable to|am not able to|won't|will not)"
    r"\s+(?:help|assist|provide|do|answer|comply|fulfil+|create|write|generate|give|share|"
    r"complete|support|engage|discuss)|i(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:cannot|"
    r"can't|am unable|won't|can not)|i must (?:decline|refuse)|i(?:'m| am) not (?:able|allowed|"
    r"permitted) to (?:help|assist|provide|answer|do)|(?:this|that|your) request (?:goes "
    r"against|violates)|i can(?:no|')t (?:assist|help) with (?:that|this)"
    # An answer about an image that says it has none to look at.
    r"|i (?:cannot|can't|can ?not|am unable to|'m unable to|am not able to) (?:see|view|open|"
    r"access|describe) (?:the |this |your |any |an )?(?:image|picture|photo|attachment)s?)"
)
_NON_ANSWER = re.compile(
    r"\b(?:i (?:don't|do not) know|no idea|i have no information|i'm not sure)\b"
)
_DISCLAIMER = re.compile(
    r"\b(?:as an ai(?: language model| assistant)?|as a (?:large )?language model|"
    r"i(?:'m| am) (?:just )?an ai)\b"
)


def _repetition(answer: Answer, creative: bool) -> tuple[float, str] | None:
    words = answer.words
    n = len(words)
    if n < 6:
        return None
    if n < 16:
        distinct = len(answer.counts)
        ratio = 1.0 - distinct / n
        if ratio < 0.6:
            return None
        return min(0.5, ratio * 0.6), f"the same words repeat: {distinct} distinct in {n}"
    grams = set(zip(words, words[1:], words[2:], words[3:], strict=False))
    ngram_ratio = 1.0 - len(grams) / (n - 3)
    sentences = [s.lower() for s in answer.sentences if s.count(" ") >= 3]
    dup_sentences = len(sentences) - len(set(sentences))
    sentence_ratio = dup_sentences / len(sentences) if sentences else 0.0
    # Refrains and anaphora are a device in poems and songs: allow more before calling it a loop.
    allowed = 0.35 if creative else 0.2
    worst = max(ngram_ratio, sentence_ratio if dup_sentences >= 2 else 0.0)
    if worst <= allowed:
        return None
    amount = min(0.5, 0.15 + (worst - allowed) * 1.2)
    if dup_sentences >= 2 and sentence_ratio >= ngram_ratio:
        top, times = Counter(sentences).most_common(1)[0]
        return amount, f"{dup_sentences} repeated sentences ('{top[:50]}' appears {times} times)"
    return amount, f"{ngram_ratio:.0%} of the word 4-grams are repeats"


_LENGTH_KINDS = ("words", "sentences", "one_word")


def _penalty(code: PenaltyCode, amount: float, reason: str) -> Penalty:
    return Penalty(code=code, amount=round(amount, 4), reason=reason)


def answer_penalties(
    q: Query,
    a: Answer,
    domain: Domain,
    claims: list[ArithmeticClaim],
    wrong: list[ArithmeticClaim],
    problems: list[str],
    prose_brackets: str | None,
    unfenced: int,
) -> list[Penalty]:
    """Find the errors in the answer itself that make it worth re-asking.

    Args:
        q: The query's analysis.
        a: The answer's analysis.
        domain: The domain whose weights are used (poems may repeat more).
        claims: The arithmetic claims found in the prose, recomputed.
        wrong: Those of ``claims`` that are wrong.
        problems: What is wrong with each code block that does not parse.
        prose_brackets: What does not balance in the prose, or None.
        unfenced: Lines of code outside code fences.

    Returns:
        The penalties, in the order they were checked.
    """
    found: list[Penalty] = []
    opening = a.text[:400].lower().replace("’", "'")
    if _REFUSAL.search(opening) or (a.n_words < 25 and _NON_ANSWER.search(opening)):
        short = a.n_words < 60
        first = a.sentences[0][:80] if a.sentences else a.text[:80]
        found.append(
            _penalty(
                "refusal",
                0.55 if short else 0.25,
                f"the answer refuses or does not answer{'' if short else ' at first'}: '{first}'",
            )
        )
    elif _DISCLAIMER.search(opening):
        found.append(_penalty("disclaimer", 0.1, "the answer opens with an 'as an AI' disclaimer"))
    if cut := truncation(a):
        found.append(_penalty("truncated", 0.35, cut))
    if rep := _repetition(a, creative=domain == "creative"):
        found.append(_penalty("repetition", rep[0], rep[1]))
    if wrong:
        detail = "; ".join(c.detail for c in wrong[:3])
        found.append(
            _penalty(
                "wrong_arithmetic",
                min(0.5, 0.3 + 0.1 * (len(wrong) - 1)),
                f"{len(wrong)} of {len(claims)} arithmetic claims are wrong: {detail}",
            )
        )
    if problems:
        found.append(_penalty("code_syntax", 0.25, f"a code block does not parse: {problems[0]}"))
    elif q.code_expected and not a.blocks and unfenced < 2:
        found.append(_penalty("missing_code", 0.2, "the query asks for code; the answer has none"))
    if a.unclosed_fence:
        found.append(_penalty("unbalanced", 0.1, "a ``` code fence is opened and never closed"))
    elif prose_brackets:
        found.append(_penalty("unbalanced", 0.05, prose_brackets))
    return found


def query_penalties(
    q: Query,
    a: Answer,
    covered: int,
    coverage: float,
    met: dict[Constraint, bool],
    lo: float,
    hi: float,
    explicit: bool,
) -> list[Penalty]:
    """Find what the answer does not do that the query asked: language, topic, format, length.

    Args:
        q: The query's analysis.
        a: The answer's analysis.
        covered: How many of the query's key terms the answer takes up.
        coverage: The share of the query's key terms the answer takes up.
        met: Each format instruction of the query, and whether the answer meets it.
        lo: The least number of words the answer should have.
        hi: The most number of words the answer should have.
        explicit: Whether the query states that length.

    Returns:
        The penalties, in the order they were checked.
    """
    found: list[Penalty] = []
    expected = q.target_language or (None if q.mentions_language else q.language)
    if expected:
        actual = detect_language(a.prose, a.words)
        if actual and actual != expected:
            asked = "asks for" if q.target_language else "is in"
            found.append(
                _penalty(
                    "wrong_language",
                    0.35,
                    f"the query {asked} {expected}; the answer is in {actual}",
                )
            )
    n_terms = len(q.key_stems)
    if (
        a.n_words >= 5
        and not q.mentions_language
        and q.text_task != "translate"
        and ((n_terms >= 4 and covered == 0) or (n_terms >= 8 and coverage < 0.1))
    ):
        found.append(
            _penalty(
                "off_topic",
                0.3,
                f"the answer takes up {covered} of the query's {n_terms} key terms",
            )
        )
    missed = [c for c, ok in met.items() if not ok]
    for c in missed:
        if c.kind in _LENGTH_KINDS:
            found.append(_penalty("length", 0.15, _describe_miss(c, a)))
    for c in [c for c in missed if c.kind not in _LENGTH_KINDS][:3]:
        found.append(_penalty("format", 0.1, _describe_miss(c, a)))
    if not explicit and lo >= 20 and a.length < lo / 4:
        found.append(
            _penalty(
                "length",
                0.15,
                f"the answer has {a.length} words; this query needs about {int(lo)} or more",
            )
        )
    elif not explicit and a.length > hi * 4:
        found.append(
            _penalty(
                "length",
                0.1,
                f"the answer has {a.length} words; this query needs about {int(hi)} at most",
            )
        )
    return found


def _describe_miss(c: Constraint, a: Answer) -> str:
    if c.kind == "words":
        return f"the query asks for {c.label}; the answer has {a.length}"
    if c.kind == "sentences":
        return f"the query asks for {c.label}; the answer has {len(a.sentences)}"
    if c.kind == "lines":
        return f"the query asks for {c.label}; the answer has {len(a.prose_lines)} lines"
    if c.kind == "list" and c.low:
        return f"the query asks for {c.label}; the answer has {a.list_items} list items"
    return f"the query asks for {c.label}; the answer is not in that form"
