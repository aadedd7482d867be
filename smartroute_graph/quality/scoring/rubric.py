"""The rubric: its dimensions, their weights per domain, and the scorer for each dimension.

Each dimension function rates one quality of an answer in [0, 1] (0 = bad, 1 = good), or
returns None when the dimension does not apply to this query and answer (no code, no sum, no
text to be faithful to). :class:`~smartroute_graph.quality.scoring.scorer.ResponseScorer`
weighs the dimensions that apply by :data:`DOMAIN_WEIGHTS`; the package docstring
(:mod:`smartroute_graph.quality.scoring`) says what each one looks for.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal, get_args

from pydantic import Field

from smartroute_graph.core.taxonomy import Domain
from smartroute_graph.quality.scoring.answer import Answer
from smartroute_graph.quality.scoring.arithmetic import ArithmeticClaim
from smartroute_graph.quality.scoring.language import STOPWORDS, stem, wordset
from smartroute_graph.quality.scoring.query import Constraint, Query

__all__ = [
    "DIMENSIONS",
    "DOMAIN_WEIGHTS",
    "Dimension",
    "Unit",
    "clip",
    "code_quality",
    "coherence",
    "constraint_met",
    "creativity",
    "examples",
    "factual",
    "faithfulness",
    "formatting",
    "instructions",
    "length_fit",
    "math_accuracy",
    "relevance",
    "structure",
    "tone",
]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
"""A score, share or penalty in [0, 1] (validated where a result model holds it)."""

Dimension = Literal[
    "structure",
    "examples",
    "formatting",
    "code_quality",
    "math_accuracy",
    "creativity",
    "factual",
    "relevance",
    "length_fit",
    "faithfulness",
    "instructions",
    "tone",
    "coherence",
    "visual_description",
]
DIMENSIONS: Final[tuple[Dimension, ...]] = get_args(Dimension)


# visual_description applies only when the query asks to describe something seen; then it
# weighs the same in every domain (a photo's description is asked of any domain's prompt).
_VISUAL_WEIGHT = 0.25


def _weights(**values: float) -> dict[Dimension, float]:
    return {
        d: values.get(d, _VISUAL_WEIGHT if d == "visual_description" else 0.0) for d in DIMENSIONS
    }


# Relative weights per domain (renormalised over the dimensions that apply to an answer).
# code_quality and math_accuracy keep a small weight everywhere: they only apply when the
# answer has code or arithmetic, and then a broken program or a wrong sum matters anywhere.
DOMAIN_WEIGHTS: Final[dict[Domain, dict[Dimension, float]]] = {
    "coding": _weights(
        code_quality=0.35, relevance=0.15, instructions=0.12, formatting=0.10, structure=0.08,
        length_fit=0.08, examples=0.07, coherence=0.05, math_accuracy=0.05,
    ),
    "math": _weights(
        math_accuracy=0.35, coherence=0.15, relevance=0.10, length_fit=0.10, instructions=0.10,
        structure=0.08, formatting=0.07, code_quality=0.05,
    ),
    "reasoning": _weights(
        coherence=0.30, relevance=0.15, structure=0.12, math_accuracy=0.10, length_fit=0.10,
        instructions=0.10, formatting=0.05, factual=0.05, code_quality=0.05,
    ),
    "creative": _weights(
        creativity=0.40, length_fit=0.15, instructions=0.15, relevance=0.12, structure=0.10,
        formatting=0.05, code_quality=0.05, math_accuracy=0.05,
    ),
    "knowledge": _weights(
        factual=0.30, relevance=0.20, structure=0.10, length_fit=0.10, instructions=0.10,
        examples=0.05, coherence=0.07, formatting=0.05, code_quality=0.05, math_accuracy=0.10,
    ),
    "text": _weights(
        faithfulness=0.30, instructions=0.20, length_fit=0.15, relevance=0.10, formatting=0.10,
        structure=0.10, code_quality=0.05, math_accuracy=0.05,
    ),
    "chat": _weights(
        tone=0.35, length_fit=0.30, relevance=0.15, instructions=0.10, formatting=0.05,
        code_quality=0.05, math_accuracy=0.05,
    ),
}  # fmt: skip


def clip(value: float) -> float:
    """Clip a value to [0, 1].

    Args:
        value: Any number.

    Returns:
        0 below 0, 1 above 1, else the value.
    """
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def structure(a: Answer) -> float:
    """Rate the answer's structure: paragraphs, lists or headings when long; sane sentences.

    Args:
        a: The answer's analysis.

    Returns:
        The rating in [0, 1].
    """
    n = a.n_words
    sentence_lengths = [s.count(" ") + 1 for s in a.sentences] or [n]
    if n < 60:
        return 0.85 if max(sentence_lengths) <= 45 else 0.55
    mean = n / len(sentence_lengths)
    score = 0.15
    score += 0.25 * min(1.0, (len(a.paragraphs) - 1) / 2)
    score += 0.25 * min(1.0, (a.list_items + 2 * a.headings) / 3)
    score += 0.2 if 6 <= mean <= 30 else 0.1 if 4 <= mean <= 45 else 0.0
    longest_paragraph = max((p.count(" ") + 1 for p in a.paragraphs), default=n)
    score += 0.15 if longest_paragraph <= 180 else 0.05 if longest_paragraph <= 300 else 0.0
    if len(a.paragraphs) <= 1 and a.list_items == 0 and n >= 150:
        score -= 0.1  # a wall of text
    # Blocks of code break the prose into parts just as paragraphs do.
    score += 0.1 * min(2, len(a.blocks))
    return clip(score)


_EXAMPLE_PHRASES = (
    " for example ", " for instance ", " e g ", " such as ", " example ", " consider ",
    " imagine ", " say you ", " suppose ", " input ", " output ", " sample ", " like when ",
)  # fmt: skip


def examples(a: Answer) -> float | None:
    """Rate the answer's examples: "for example", "such as", code samples, inputs and outputs.

    Args:
        a: The answer's analysis.

    Returns:
        The rating in [0, 1]; None for an answer under 40 words.
    """
    if a.n_words < 40:
        return None
    hits = a.phrases(_EXAMPLE_PHRASES) + a.text.count(">>>") + len(a.blocks)
    return clip(0.5 + 0.25 * hits)


def formatting(a: Answer, prose_brackets: str | None, unfenced: int) -> float:
    """Rate the answer's markdown: closed fences, balanced brackets and bold, tables, no walls.

    Args:
        a: The answer's analysis.
        prose_brackets: What does not balance in the prose, or None.
        unfenced: Lines of code outside code fences.

    Returns:
        The rating in [0, 1].
    """
    score = 1.0
    if a.unclosed_fence:
        score -= 0.5
    if prose_brackets:
        score -= 0.15
    if a.prose.count("**") % 2:
        score -= 0.1
    if any(p.count(" ") > 250 for p in a.paragraphs):
        score -= 0.2
    if unfenced >= 2:
        score -= 0.3  # code pasted as prose loses its indentation when rendered
    rows = a.table_rows
    if len(rows) >= 2 and len({r.strip().strip("|").count("|") for r in rows}) > 1:
        score -= 0.1  # table rows with different numbers of cells
    if a.blocks and not any(b.lang for b in a.blocks):
        score -= 0.05  # code fences without a language tag render without highlighting
    return clip(score)


# Substring and whole-line checks, not regexes: an IGNORECASE alternation over a long code
# block costs more than parsing it.
_PLACEHOLDER_TEXT = ("todo", "fixme", "your code here", "implement this", "not implemented")
_PLACEHOLDER_LINES = frozenset({"...", "# ...", "// ...", "/* ... */", "pass  # todo"})
_USAGE_TEXT = ("assert", "print(", "console.log", "test", "example", ">>>")
_CODE_COMMENT = re.compile(r"(^|\s)(#|//|--)\s*\w|\"\"\"|/\*", re.MULTILINE)


def code_quality(a: Answer, problems: list[str], unfenced: int) -> float:
    """Rate the answer's code: it parses, is tagged, explained, commented, used, not a stub.

    Args:
        a: The answer's analysis.
        problems: What is wrong with each code block that does not parse.
        unfenced: Lines of code outside code fences.

    Returns:
        The rating in [0, 1].
    """
    if not a.blocks:
        return 0.35 if unfenced >= 2 else 0.1
    if problems:
        return 0.1
    code = "\n".join(b.code for b in a.blocks)
    score = 0.5
    score += 0.1 if all(b.lang for b in a.blocks) else 0.0
    score += 0.15 if a.n_words >= 15 else 0.0  # code with no word of explanation
    score += 0.05 if _CODE_COMMENT.search(code) else 0.0
    score += 0.1 if code.count("\n") >= 2 else 0.0
    lowered = code.lower()
    score += 0.1 if any(t in lowered for t in _USAGE_TEXT) else 0.0
    if any(t in lowered for t in _PLACEHOLDER_TEXT) or any(
        line.strip() in _PLACEHOLDER_LINES for line in lowered.split("\n")
    ):
        score -= 0.3  # a stub is not an answer
    return clip(score)


_CONCLUSION_PHRASES = (
    " the answer is ", " answer ", " therefore ", " thus ", " hence ", " so the ", " in total ",
    " total is ", " result is ", " equals ", " which gives ", " we get ", " qed ", " so ",
    " in conclusion ", " overall ", " in short ",
)  # fmt: skip
_EQUALS_NUMBER = re.compile(r"=\s*\**\s*-?\$?\d")


def _concluded(a: Answer) -> bool:
    return (
        any(p in a.joined for p in _CONCLUSION_PHRASES)
        or "\\boxed" in a.text
        or "∎" in a.text
        or ("=" in a.prose and bool(_EQUALS_NUMBER.search(a.prose)))
    )


def math_accuracy(a: Answer, claims: list[ArithmeticClaim], q: Query) -> float | None:
    """Rate the answer's arithmetic: claims recomputed correctly, and a stated final answer.

    Args:
        a: The answer's analysis.
        claims: The arithmetic claims found in the prose, recomputed.
        q: The query's analysis.

    Returns:
        The rating in [0, 1]; None when the answer has no sum and the query asks for none.
    """
    if not claims and not q.mathy:
        return None
    has_final = _concluded(a) or (a.n_words <= 6 and any(w[0].isdigit() for w in a.words))
    if not claims:
        return 0.75 if has_final else 0.45
    wrong = sum(not c.ok for c in claims)
    if wrong:
        return 0.3 * (len(claims) - wrong) / len(claims)
    return clip(0.8 + 0.1 * min(2, len(claims)) - (0.0 if has_final else 0.1))


_IMAGERY: Final = wordset(
    """red crimson scarlet golden gold silver amber azure blue green emerald violet purple grey
    gray white black pale dark bright light shadow shadows glow glowing gleam shimmer shimmering
    glitter sparkle flicker flickering dusk dawn twilight moon moonlight sun sunlight starlight
    stars star whisper whispers whispering hum echo echoes rustle murmur roar silence hush sigh
    soft velvet cold warm chill frost frozen damp scent fragrance smoke sweet bitter salt rain
    wind breeze mist fog storm thunder river sea ocean waves tide leaves petals blossom bloom
    ember embers flame flames fire ash stone dust sky skies cloud clouds snow ice honey blood
    bone heart tears drift drifting dance dancing trembling burning"""
)
_SIMILE_PHRASES = (" like a ", " like an ", " like the ", " as if ", " as though ")
_AS_AS = re.compile(r" as \w+ as ")
_DIALOGUE = re.compile(r"[\"“][^\"”\n]{3,}[\"”]")


def creativity(a: Answer, q: Query) -> float | None:
    """Rate the answer's craft: lexical variety, imagery, and the form the query asks for.

    Args:
        a: The answer's analysis.
        q: The query's analysis.

    Returns:
        The rating in [0, 1]; None for an answer with no prose.
    """
    words = a.words
    n = len(words)
    if n == 0:
        return None  # only code: nothing to judge here
    # Type-token ratio over 50-word windows: a long text is not penalised for its length.
    windows = [words[i : i + 50] for i in range(0, n, 50)]
    windows = [w for w in windows if len(w) >= 20] or [words]
    ttr = sum(len(set(w)) / len(w) for w in windows) / len(windows)
    # Short texts have few chances to repeat a word: expect more of them.
    floor = 0.45 if n >= 50 else 0.6
    variety = clip((ttr - floor) / 0.35)
    # The query's own words ("autumn rain") are the topic, not imagery the answer brought.
    topic = q.key_stems
    vivid = sum(a.counts[w] for w in _IMAGERY if w in a.counts and stem(w) not in topic)
    vivid += a.phrases(_SIMILE_PHRASES)
    if " as " in a.joined:
        vivid += len(_AS_AS.findall(a.joined))
    imagery = clip(vivid / max(0.5, n / 100) / 10)
    if q.form in ("poem", "haiku", "limerick", "sonnet"):
        form = 1.0 if len(a.prose_lines) >= 3 else 0.3
    elif q.form == "story":
        form = 1.0 if len(a.paragraphs) >= 2 or _DIALOGUE.search(a.prose) else 0.6
    else:
        form = 0.7
    return clip(0.45 * variety + 0.35 * imagery + 0.2 * form)


_MID_SENTENCE_CAPITAL = re.compile(r"[a-z,;:(] [A-Z]")
_HEDGE_WORDS = wordset("maybe perhaps possibly probably reportedly allegedly")
_HEDGE_PHRASES = (
    " i think ", " i believe ", " i guess ", " not sure ", " not certain ", " might be ",
    " may be ", " could be ", " it depends ", " hard to say ", " some say ",
)  # fmt: skip
_VAGUE_WORDS = wordset("things stuff various etc")
_VAGUE_PHRASES = (" and so on ", " some people ", " many people ")


def factual(a: Answer) -> float | None:
    """Rate the answer's specificity: numbers, dates, names, technical terms; little hedging.

    Args:
        a: The answer's analysis.

    Returns:
        The rating in [0, 1]; None for an answer under 3 words or in an ideographic script.
    """
    n = a.n_words
    if n < 3 or a.ideographic:
        return None
    # Names in mid-sentence, and numbers, dates, quantities: the specifics of an answer.
    # Summed over distinct words (half as many as words): this runs on every answer.
    counts = a.counts.items()
    numbers = sum(c for w, c in counts if w[0].isdigit())
    specifics = len(_MID_SENTENCE_CAPITAL.findall(a.prose)) + numbers
    technical = sum(c for w, c in counts if len(w) >= 9) / n
    # Density alone flatters a one-line answer; the count rewards covering more ground.
    specific = (
        0.35 * clip(specifics / n * 100 / 6)
        + 0.35 * clip(specifics / 8)
        + 0.3 * clip(technical / 0.12)
    )
    hedges = (a.count(_HEDGE_WORDS) + a.phrases(_HEDGE_PHRASES)) / max(1, len(a.sentences))
    vague = a.count(_VAGUE_WORDS) + a.phrases(_VAGUE_PHRASES)
    return clip(0.35 + 0.6 * specific - 0.6 * min(0.5, hedges) - 0.05 * min(3, vague))


_CASUAL_WORDS = wordset("you your i'm i we let's glad happy hope thanks sure")
_ROBOTIC_PHRASES = (
    " as an ai ", " language model ", " in conclusion ", " furthermore ", " moreover ",
    " it is important to note ", " i do not have feelings ", " i do not have emotions ",
    " i do not have personal ", " functioning ",
)  # fmt: skip


def tone(a: Answer) -> float:
    """Rate the answer as a chat reply: conversational and brief, not a report.

    Args:
        a: The answer's analysis.

    Returns:
        The rating in [0, 1].
    """
    score = 0.6
    casual = a.count(_CASUAL_WORDS) + a.prose.count("!") + a.prose.count("?")
    score += 0.2 if casual >= 2 else 0.1 if casual else 0.0
    score += 0.1 if a.n_words <= 80 else 0.0
    if a.headings or len(a.table_rows) >= 2:
        score -= 0.3  # a chat reply is not a report
    if a.list_items >= 5:
        score -= 0.15
    score -= 0.15 * min(2, a.phrases(_ROBOTIC_PHRASES))
    return clip(score)


_CONNECTIVE_WORDS = wordset(
    "because therefore thus hence so since consequently first second third then next finally "
    "if otherwise but however step"
)
_CONNECTIVE_PHRASES = (" which means ", " it follows ", " as a result ", " given that ")


def coherence(a: Answer) -> float | None:
    """Rate the answer's reasoning: connectives ("because", "therefore") and a conclusion.

    Args:
        a: The answer's analysis.

    Returns:
        The rating in [0, 1]; None for an answer in an ideographic script.
    """
    if a.ideographic:
        return None
    if a.n_words < 12:
        return 0.4  # a bare verdict: nothing wrong, but no reasoning shown
    connectives = a.count(_CONNECTIVE_WORDS) + a.phrases(_CONNECTIVE_PHRASES)
    rate = connectives / max(1, len(a.sentences))
    return clip(0.25 + 0.45 * min(1.0, rate / 0.6) + (0.3 if _concluded(a) else 0.0))


def faithfulness(a: Answer, q: Query) -> float | None:
    """Rate how much of the answer's wording comes from the text the query gives.

    Args:
        a: The answer's analysis.
        q: The query's analysis.

    Returns:
        The rating in [0, 1] (a summary as long as its text scores lower); None when the
        query gives no text, or asks for a translation.
    """
    if not q.source_stems or q.text_task == "translate" or q.mentions_language:
        return None
    # Distinct content words: how much of the answer's vocabulary the text supports.
    content = [w for w in a.counts if w not in STOPWORDS and not w[0].isdigit()]
    if not content:
        return None
    supported = sum(1 for w in content if stem(w) in q.source_stems) / len(content)
    score = clip(supported / 0.8)
    if q.text_task == "summary" and q.source_words:
        # Copying the text back is not summarising it.
        ratio = a.n_words / q.source_words
        score *= 1.0 if ratio <= 0.7 else clip((1.2 - ratio) / 0.5) * 0.6 + 0.4
    return score


def relevance(q: Query, coverage: float) -> float | None:
    """Rate how much of the query's topic the answer takes up.

    Args:
        q: The query's analysis.
        coverage: The share of the query's key terms the answer takes up.

    Returns:
        The rating; None for a query with fewer than two key terms, or one about languages
        or translation (its terms need not recur in the answer).
    """
    usable = len(q.key_stems) >= 2 and q.text_task != "translate"
    return clip(0.25 + 1.25 * coverage) if usable and not q.mentions_language else None


def instructions(met: Mapping[Constraint, bool]) -> float | None:
    """Rate how many of the query's explicit format instructions the answer meets.

    Args:
        met: Each instruction of the query, and whether the answer meets it
            (:func:`constraint_met`).

    Returns:
        The share met; None when the query gives none.
    """
    return sum(met.values()) / len(met) if met else None


def length_fit(n: int, lo: float, hi: float) -> float:
    """Rate a length against the range expected: 1 inside it, falling off outside it.

    Args:
        n: The answer's length in words.
        lo: The least expected.
        hi: The most expected.

    Returns:
        The rating in (0, 1]: half or double the range's edge scores about 0.6.
    """
    if lo <= n <= hi:
        return 1.0
    ratio = n / lo if n < lo else n / hi
    # Gaussian in log-ratio: half or double the range's edge scores about 0.6.
    return math.exp(-(math.log(max(ratio, 1e-3)) ** 2) / (2 * 0.7**2))


def _json_ok(a: Answer) -> bool:
    candidates = [a.text.strip(), *(b.code for b in a.blocks)]
    start = min((i for i in (a.text.find("{"), a.text.find("[")) if i >= 0), default=-1)
    if start >= 0:
        end = max(a.text.rfind("}"), a.text.rfind("]"))
        candidates.append(a.text[start : end + 1])
    for candidate in candidates:
        try:
            json.loads(candidate)
        except ValueError:
            continue
        return True
    return False


def constraint_met(c: Constraint, a: Answer) -> bool:
    """Tell whether the answer meets one explicit format instruction of the query.

    Args:
        c: The instruction.
        a: The answer's analysis.

    Returns:
        True when it is met (counts allow a little slack).
    """
    if c.kind == "json":
        return _json_ok(a)
    if c.kind == "table":
        return len(a.table_rows) >= 2
    if c.kind == "list":
        if not c.low:
            return a.list_items >= 2
        slack = 1 if c.low >= 5 else 0
        counts = (a.list_items, len(a.paragraphs), len(a.blocks), len(a.sentences))
        return any(abs(k - c.low) <= slack for k in counts)
    if c.kind == "numbered":
        return a.numbered_items >= 2
    if c.kind == "sentences":
        slack = 1 if c.high >= 3 else 0
        return c.low - slack <= len(a.sentences) <= c.high + slack
    if c.kind == "words":
        # 15% slack: word counting differs between tools and people.
        return 0.85 * c.low <= a.length <= 1.15 * c.high
    if c.kind == "one_word":
        return a.n_words <= 3
    if c.kind == "yes_no":
        return bool(a.words) and a.words[0] in ("yes", "no")
    if c.kind == "lines":
        lines = len(a.prose_lines)
        return c.low <= lines <= c.low + 1  # a title line is fine
    return True
