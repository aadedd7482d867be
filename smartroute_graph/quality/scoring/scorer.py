"""A deterministic response scorer: rate an answer on a rubric, with no model and no network.

The older system scored every model's answer on a multi-dimensional rubric; this module does
the same from surface evidence in well under a millisecond, so the router can review a cheap
model's answer and re-ask a stronger one when it is weak (``review="scorer"``), and
``compare`` can rank the answers of several models.

Scale
-----
Every dimension is in [0, 1]. The overall :attr:`ResponseScore.score` is the weighted mean of
the dimensions that apply to this query and answer, minus the penalties, clipped to [0, 1]:

- **≥ 0.70: good.** Complete, on topic, well formed; no error was detected.
- **0.45–0.70: acceptable.** Usable, with gaps: thin, unstructured, too long or too short,
  a missed format instruction.
- **< 0.45: weak, worth re-asking a stronger model** (:data:`WEAK_THRESHOLD`). Nearly always a
  detected error: an empty answer, a refusal, wrong arithmetic, code that does not parse, a
  truncated ending, looping repetition, the wrong language, an answer that ignores the
  question.

Dimensions (each 0 = bad, 1 = good; ``dimensions`` lists those that applied):

- ``structure``: paragraphs, lists or headings where the answer is long; sane sentences.
- ``examples``: "for example", "such as", code samples, inputs and outputs.
- ``formatting``: closed code fences, balanced brackets and bold markers, no walls of text,
  code in fences, consistent tables.
- ``code_quality``: fenced code that parses (Python with :mod:`ast`, JSON with :mod:`json`,
  brace languages by bracket balance), language tags, comments, no placeholders.
- ``math_accuracy``: arithmetic claims such as ``17 * 23 = 391`` recomputed with a safe
  evaluator (:func:`safe_eval`; never ``eval``), and a stated final answer.
- ``creativity``: lexical variety (type-token ratio over 50-word windows), imagery (sensory
  words, similes), the form asked for (lines for a poem, paragraphs for a story).
- ``factual``: specific content (numbers, dates, names, technical terms), little hedging.
- ``relevance``: how many of the query's key terms the answer takes up.
- ``length_fit``: the answer's length against what the query asks (explicit limits, "briefly",
  "in detail", the form, the domain's usual length, the length of a text to summarise).
- ``faithfulness``: for operations on a given text, how much of the answer's wording comes from
  that text (a summary that invents content scores low).
- ``instructions``: explicit format instructions met (JSON, a table, N bullet points,
  N sentences, a word limit, one word, yes or no, the lines of a haiku, limerick or sonnet).
- ``tone``: for chat, conversational and brief, without report-style headings or boilerplate.
- ``coherence``: reasoning connectives ("because", "therefore") and a stated conclusion.

Penalties (subtracted from the weighted mean; ``penalties`` says why, in words):

- ``empty`` (score 0), ``refusal`` 0.55 (0.25 when a long answer follows it), ``disclaimer``
  0.1 ("As an AI…"), ``truncated`` 0.35 (ends mid-sentence or inside a code block),
  ``repetition`` up to 0.5 (repeated sentences or word 4-grams; more is allowed in poems),
  ``wrong_arithmetic`` 0.3 + 0.1 per further wrong claim (at most 0.5), ``code_syntax`` 0.25,
  ``missing_code`` 0.2, ``unbalanced`` 0.05 (brackets) or 0.1 (an unclosed fence),
  ``wrong_language`` 0.35, ``off_topic`` 0.3 (none of the query's key terms), ``format`` 0.1
  per missed format instruction, ``length`` 0.15 (a stated length missed, or far too short)
  or 0.1 (far too long).

Weights depend on the query's domain (:data:`DOMAIN_WEIGHTS`): coding weighs code quality,
math weighs math accuracy, creative weighs creativity, knowledge weighs factual content, text
weighs faithfulness and format, chat weighs tone and brevity, reasoning weighs coherence.
With no domain given the weights are blended by the rules classifier's domain probabilities
for the query.

Speed: a 500-word answer takes about 0.25-0.45 ms of prose checks (median, one core of a
2-core AMD EPYC cloud machine), up to about 0.75 ms with 100 lines of Python to parse or
dozens of sums to recompute; a query seen for the first time adds about 0.1-0.4 ms (its
analysis is cached). At most :data:`MAX_CLAIMS` arithmetic claims are recomputed,
:func:`safe_eval` refuses huge powers before computing, and every pattern runs in linear
time, so no answer can make scoring slow.

What it cannot do: check facts, run code, or judge a proof. A fluent, confident, wrong answer
about history scores well here; use the LLM judge (``review="judge"``) where that matters.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.classifiers.base import Classifier
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.core.errors import ConfigError, InputError, SmartRouteError
from smartroute_graph.core.taxonomy import DOMAINS, Domain

__all__ = [
    "DIMENSIONS",
    "DOMAIN_WEIGHTS",
    "GOOD_THRESHOLD",
    "MAX_CLAIMS",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_CHARS",
    "MAX_RESULT_DIGITS",
    "PENALTY_CODES",
    "SCORER_VERSION",
    "WEAK_THRESHOLD",
    "ArithmeticClaim",
    "Dimension",
    "ExpressionError",
    "Penalty",
    "PenaltyCode",
    "ResponseScore",
    "ResponseScorer",
    "check_arithmetic",
    "safe_eval",
    "score_response",
]

SCORER_VERSION: Final = 1
"""Bumped whenever scores change meaning, so traces from different versions are not mixed."""
WEAK_THRESHOLD: Final = 0.45
"""Below this an answer is weak: worth re-asking a stronger model."""
GOOD_THRESHOLD: Final = 0.70
"""At or above this an answer is good."""

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
]
DIMENSIONS: Final[tuple[Dimension, ...]] = get_args(Dimension)

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


def _weights(**values: float) -> dict[Dimension, float]:
    return {d: values.get(d, 0.0) for d in DIMENSIONS}


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


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class Penalty(BaseModel):
    """One detected problem: ``amount`` is subtracted from the weighted dimension mean."""

    model_config = ConfigDict(frozen=True)

    code: PenaltyCode
    amount: Unit
    reason: str
    """What was wrong, for a person reading a trace."""


class ResponseScore(BaseModel):
    """The score of one answer; JSON-serialisable (it goes into metadata and traces)."""

    model_config = ConfigDict(frozen=True)

    score: Unit
    """Overall score: weighted mean of ``dimensions`` minus ``penalties``, in [0, 1]."""
    weak: bool
    """``score < threshold``: worth re-asking a stronger model."""
    threshold: Unit
    dimensions: dict[str, Unit]
    """The dimensions that applied to this answer, each in [0, 1]."""
    weights: dict[str, Unit]
    """Each applied dimension's share of the weighted mean (they sum to 1)."""
    penalties: tuple[Penalty, ...] = ()
    domain: Domain
    """The domain whose weights were used (the most probable one when inferred)."""
    domain_inferred: bool = False
    """True when no domain was given and the weights were blended from the query's domain
    probabilities."""
    stats: dict[str, int] = Field(default_factory=dict)
    """What was counted: words, sentences, code blocks, arithmetic claims checked and wrong,
    key terms of the query and how many the answer took up."""
    version: int = SCORER_VERSION

    @property
    def overall(self) -> float:
        """Alias of :attr:`score`."""
        return self.score

    @property
    def reasons(self) -> list[str]:
        """The penalties' reasons, most costly first."""
        return [p.reason for p in sorted(self.penalties, key=lambda p: -p.amount)]


class ArithmeticClaim(BaseModel):
    """One arithmetic statement found in an answer, recomputed."""

    model_config = ConfigDict(frozen=True)

    text: str
    ok: bool
    detail: str
    """For a wrong claim, what the left-hand side really equals."""


class ExpressionError(SmartRouteError, ValueError):
    """:func:`safe_eval` refused an expression: not plain arithmetic, or too large to compute."""


# --------------------------------------------------------------------------------------------
# Safe arithmetic
# --------------------------------------------------------------------------------------------

MAX_EXPRESSION_CHARS: Final = 200
MAX_EXPONENT: Final = 1000
MAX_RESULT_DIGITS: Final = 1000
_MAX_DEPTH = 40

_BIN_OPS: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_OPERATOR_SPELLINGS = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-", "^": "**"})


def safe_eval(expression: str) -> int | float:
    """Evaluate plain arithmetic: numbers, ``+ - * / // % **`` (or ``^``, ``×``, ``÷``) and
    brackets. Nothing else is evaluated: names, calls, attributes, strings and every other
    syntax raise :class:`ExpressionError`, as do expressions over
    :data:`MAX_EXPRESSION_CHARS` characters, exponents over :data:`MAX_EXPONENT`, results over
    :data:`MAX_RESULT_DIGITS` digits (so ``9**9**9`` is refused at once, not computed),
    division by zero and non-real results.
    """
    text = expression.strip().translate(_OPERATOR_SPELLINGS)
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"expression is {len(text)} characters; the limit is {MAX_EXPRESSION_CHARS}"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not an arithmetic expression: {text!r} ({exc})") from None
    return _evaluate(tree.body, 0)


def _evaluate(node: ast.expr, depth: int) -> int | float:
    if depth > _MAX_DEPTH:
        raise ExpressionError("expression nests too deeply")
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)  # True + True is not arithmetic in prose
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _evaluate(node.operand, depth + 1)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            result = _BIN_OPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("result too large") from None
        if not isinstance(result, int | float):  # (-8) ** 0.5 is complex
            raise ExpressionError("result is not a real number")
        if isinstance(result, float) and not math.isfinite(result):
            raise ExpressionError("result too large")
        if isinstance(result, int) and result.bit_length() > MAX_RESULT_DIGITS * 3.33:
            raise ExpressionError(f"result has more than {MAX_RESULT_DIGITS} digits")
        return result
    raise ExpressionError(
        f"{type(node).__name__} is not allowed: only numbers, + - * / // % ** and brackets are"
    )


def _check_power(base: float, exponent: float) -> None:
    # Refuse before computing: 9 ** 387420489 would take minutes and gigabytes.
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {exponent} is over the limit of {MAX_EXPONENT}")
    if abs(base) > 1 and abs(exponent) * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise ExpressionError(f"result would have more than {MAX_RESULT_DIGITS} digits")


MAX_CLAIMS: Final = 24
"""At most this many arithmetic claims are recomputed per answer (the first and last half:
working steps and final answers), so a long table of sums cannot make scoring slow."""

_NUM = r"\d+(?:\.\d+)?"
_ATOM = rf"(?:\(\s*)*-?{_NUM}(?:\s*\))*"
_TERM = re.compile(rf"{_ATOM}(?:\s*[-+*/^]\s*{_ATOM})*")
# Runs of digits, operators and brackets around "=": a plain character class that the
# regex engine scans quickly; each run is then split into sides and checked. The possessive,
# bounded repeats keep a long run with no "=" from costing quadratic time.
_RUN = re.compile(r"[-(\d][\d \t.+\-*/^()]{0,120}+(?:[=≈][\d \t.+\-*/^()]{0,120}+)+")
_SENTENCE_DOT = re.compile(r"\.(?:[ \t]+|$)")
# "pages 10-20": an unspaced hyphen from a smaller to a larger number is a range.
_RANGE = re.compile(r"(?<![\d.])(\d+)-(\d+)(?![\d.])")
_BINARY_OP = re.compile(r"[\d)]\s*[-+*/^]\s*[(\-]*\s*\d")
_PLAIN_NUMBER = re.compile(r"\(*\s*-?\d+(?:\.(\d+))?\s*\)*")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_LATEX_NOISE = re.compile(r"\\[()\[\]]|\\left|\\right|\$|\\,|\\!")
_TIMES = re.compile(r"\\times|\\cdot|[×✕⋅·]|(?<=\d)\s+[xX]\s+(?=\d)")
_PY_POWER = re.compile(r"(?<=[\d)])\s*\*\*\s*(?=[\d(])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_OPERATOR_CHARS = frozenset("+-*/^%(")


def _normalise_math(text: str) -> str:
    # Each rewrite runs only when its trigger is present: most answers have none of them.
    if "\\" in text or "$" in text:
        text = _LATEX_FRAC.sub(r"(\1)/(\2)", text)
        text = text.replace("\\div", "/")
        text = _LATEX_NOISE.sub(" ", text)
    if "×" in text or "\\" in text or "x" in text or "X" in text or "·" in text or "⋅" in text:
        text = _TIMES.sub(" * ", text)
    text = text.replace("÷", "/").replace("−", "-")
    if "**" in text:
        text = _PY_POWER.sub("^", text)
        text = text.replace("**", " ")  # what is left of ** is markdown bold
    if "," in text:
        text = _THOUSANDS.sub("", text)
    return text


def _balanced_side(side: str) -> str | None:
    side = side.strip()
    # A claim inside brackets, "(17 * 23 = 391)", leaves a stray bracket on each end.
    while side.count("(") > side.count(")") and side.startswith("("):
        side = side[1:].strip()
    while side.count(")") > side.count("(") and side.endswith(")"):
        side = side[:-1].strip()
    if not side or side.count("(") != side.count(")") or not _TERM.fullmatch(side):
        return None
    return side


def _tolerance(a: float, b: float, sides: tuple[str, str], approximate: bool) -> float:
    tol = 1e-9 * max(1.0, abs(a), abs(b))
    for side in sides:
        literal = _PLAIN_NUMBER.fullmatch(side)
        if not literal:
            continue
        if literal.group(1):
            # "22 / 7 = 3.14": one unit in the last shown digit (rounded or truncated).
            tol = max(tol, 10.0 ** -len(literal.group(1)))
        elif approximate:
            tol = max(tol, 0.5)  # "≈ 3": rounded to a whole number
    if approximate:
        tol = max(tol, 0.01 * max(abs(a), abs(b)))
    return tol


def _candidates(text: str) -> list[str]:
    """The arithmetic statements in ``text`` (normalised), before any is computed."""
    found: list[str] = []
    for match in _RUN.finditer(text):
        run, start, end = match.group(0), match.start(), match.end()
        before = text[:start].rstrip()[-1:]
        if start and (text[start - 1].isalnum() or text[start - 1] in "._"):
            continue  # "x2 = 4", "v1.5 = …"
        if before and (
            before in _OPERATOR_CHARS or before.isdigit() or (run[0] == "-" and before.isalnum())
        ):
            # The left side starts with a variable ("x + 2 * 3 = 8", "x -2 = 1") or the run
            # was cut from a longer one.
            continue
        # "391. Then 2 + 2 = 4" is two sentences: split the run at sentence full stops.
        pieces = _SENTENCE_DOT.split(run)
        last = len(pieces) - 1
        if not run[-1].isspace() and end < len(text) and (text[end].isalnum() or text[end] in "_%"):
            pieces[last] = ""  # "= 6x", "= 12%": the last value is not a plain number
        for piece in pieces:
            claim = " ".join(piece.split()).rstrip(".")
            if ("=" in claim or "≈" in claim) and _BINARY_OP.search(claim):
                if any(int(m[1]) < int(m[2]) for m in _RANGE.finditer(claim)):
                    continue
                found.append(claim)
    return found


def _number(side: str) -> int | float:
    literal = _PLAIN_NUMBER.fullmatch(side)
    if literal and "(" not in side and ")" not in side:
        return float(side) if literal.group(1) else int(side)  # most right-hand sides
    return safe_eval(side)


def check_arithmetic(text: str) -> list[ArithmeticClaim]:
    """Find arithmetic claims (``17 * 23 = 391``, ``2^10 = 1024``, chains such as
    ``17 × 23 = 340 + 51 = 391``, ``\\frac{1}{4} = 0.25``) in prose and recompute each.

    Only claims made of numbers and operators on both sides are checked: ``2x + 3 = 7`` and
    ``x = 3`` are algebra, not arithmetic, and are skipped, as are claims that cannot be
    computed safely (see :func:`safe_eval`). A shown decimal may be rounded or truncated in its
    last digit; ``≈`` allows 1%. At most :data:`MAX_CLAIMS` claims are checked.
    """
    if "=" not in text and "≈" not in text:
        return []
    candidates = _candidates(_normalise_math(text))
    if len(candidates) > MAX_CLAIMS:
        half = MAX_CLAIMS // 2
        candidates = candidates[:half] + candidates[-half:]
    claims: list[ArithmeticClaim] = []
    for claim in candidates:
        approximate = "≈" in claim
        sides = [_balanced_side(s) for s in claim.replace("≈", "=").split("=")]
        if any(s is None for s in sides):
            continue
        checked = [s for s in sides if s is not None]
        try:
            values = [_number(s) for s in checked]
        except (ExpressionError, ValueError):
            continue
        wrong: str | None = None
        for i in range(len(values) - 1):
            pair = (checked[i], checked[i + 1])
            a, b = float(values[i]), float(values[i + 1])
            if abs(a - b) > _tolerance(a, b, pair, approximate):
                wrong = f"{pair[0]} = {_show(values[i])}, not {pair[1]}"
                break
        claims.append(ArithmeticClaim(text=claim, ok=wrong is None, detail=wrong or "correct"))
    return claims


def _show(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# --------------------------------------------------------------------------------------------
# Words: one fast tokenisation shared by every check
# --------------------------------------------------------------------------------------------

# ASCII punctuation (but the apostrophe, which contractions keep) becomes a space. A bytes
# table: str.translate with a dict is ten times slower, and this runs on every answer.
_ASCII_PUNCT = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
_PUNCT_TABLE = bytes.maketrans(_ASCII_PUNCT.encode(), b" " * len(_ASCII_PUNCT))
_UNICODE_PUNCT = re.compile(r"[“”«»—–…·•¿¡‘。，、！？：；（）「」『』]")
_IDEOGRAPH = re.compile(r"[\u3040-\u30FF\u4E00-\u9FFF\uAC00-\uD7AF]")


def _tokens(lowered: str) -> list[str]:
    """Lower-case words and numbers: punctuation splits, apostrophes stay ("don't"); each
    Chinese, Japanese or Korean character is a token (those scripts put no spaces)."""
    if not lowered.isascii():
        lowered = _UNICODE_PUNCT.sub(" ", lowered.replace("’", "'"))
        if _IDEOGRAPH.search(lowered):
            lowered = _IDEOGRAPH.sub(r" \g<0> ", lowered)
    return lowered.encode().translate(_PUNCT_TABLE).decode().split()


def _stem(word: str) -> str:
    """A crude stem: see :func:`_stems`."""
    if len(word) > 5:
        return word[:5]
    return word[:-1] if len(word) > 3 and word[-1] == "s" else word


def _stems(words: frozenset[str] | set[str]) -> set[str]:
    # A five-letter prefix merges "checks/checking", "palindrome/palindromes" cheaply; a
    # real stemmer would cost more than the whole scorer. Inlined: this runs per answer word.
    return {w[:5] if len(w) > 5 else (w[:-1] if len(w) > 3 and w[-1] == "s" else w) for w in words}


_NUMBER_WORDS: Final = {
    "a": 1, "an": 1, "one": 1, "single": 1, "a single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12,
}  # fmt: skip
_COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a single|single|an?)"


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Per-language function words: enough to tell the big Latin-script languages apart.
_LANG_STOPWORDS: Final[dict[str, frozenset[str]]] = {
    "en": _wordset(
        "the and is are of to in that it for with was this you what how not be have on "
        "can do does which there their they from would will has were been your about when "
        "why who because if or but at by an we my a as no so me he she his her our"
    ),
    "es": _wordset(
        "el la los las de que y en es por para una con no se lo como del más pero su sus "
        "al está están son hay fue qué cómo cuál porque esta este desde entre sobre tiene "
        "puede ser hace todo cuando donde nos muy también"
    ),
    "fr": _wordset(
        "le la les des et est une dans que qui pour pas sur avec ce vous il du au sont "
        "mais ou cette être nous aux leur été fait peut très ces tout aussi comme elle"
    ),
    "de": _wordset(
        "der die das und ist nicht ein eine ich sie es mit den zu auf für von dem wie "
        "sind auch im wird werden kann hat oder aber noch nach bei aus sich wenn dass sehr "
        "durch"
    ),
    "it": _wordset(
        "il lo la gli che di è e una per non con del sono della come ma anche questo nel "
        "alla più delle degli essere ha questa molto tutto perché alle sul dei"
    ),
    "pt": _wordset(
        "o a os as de que e é um uma para com não em do da no na por mais são como mas "
        "está você muito também ele ela isso foi pelo pela das dos seu sua quando já ao"
    ),
    "nl": _wordset(
        "de het een en van is dat niet ik je op te zijn met voor maar ook wat hoe er naar "
        "bij om aan heeft kan deze dit wordt nog uit dan als wel"
    ),
}
# Only words that belong to one language vote: "de", "a", "as" and "do" say nothing.
_LANG_MARKERS: Final[dict[str, str]] = {
    word: lang
    for lang, words in _LANG_STOPWORDS.items()
    for word in words
    if sum(word in other for other in _LANG_STOPWORDS.values()) == 1
}
# Words that say nothing about the topic of a query: function words, and the words of asking
# ("write", "explain", "tips") and of form ("poem", "sentence").
_QUERY_NOISE = _wordset(
    """a an about above after again all also am any as at because been before being below
    between both but by could did doing down during each few further had has having he her
    here hers him his i if into its itself just me more most my myself no nor now only or
    other our out over own same she should so some such than then these those through too
    under until up very we were when where who whom why will would your yours yourself
    please write explain tell give show make create describe list help need want know using
    use used way get let like could would might me us one two three short brief simple
    quick detailed answer question something thing things can't don't i'm it's what's
    hi hey hello thanks thank sentence sentences word words paragraph paragraphs
    poem story haiku sonnet limerick joke essay show work working step steps tip tips
    better best good ways ideas reason reasons example examples four five six seven eight
    nine ten bullet bullets point points item items list numbered table json format markdown
    summary summarize summarise summarising summarizing briefly detail detailed"""
)
_CJK_NOISE = _wordset(
    "的 是 了 在 和 有 我 你 他 这 那 哪 里 什 么 吗 呢 怎 样 个 一 不 也 就 而 与 或 "
    "の は が を に で と も"
)
_STOPWORDS: Final = frozenset().union(*_LANG_STOPWORDS.values(), _QUERY_NOISE, _CJK_NOISE)
_LANGUAGE_NAMES = re.compile(
    r"\b(translat\w*|tradu\w*|übersetz\w*|english|spanish|french|german|italian|portuguese|"
    r"dutch|russian|chinese|mandarin|japanese|korean|arabic|hindi|greek|hebrew|thai|"
    r"español|inglés|français|anglais|deutsch|englisch|italiano|português|"
    r"nederlands|русск\w*|англий\w*)\b|翻译|翻訳|中文|英语|日本語|英語"
)
_TARGET_LANGUAGE = re.compile(
    r"\b(?:into|to|in)\s+(english|spanish|french|german|italian|portuguese|dutch|russian|"
    r"chinese|mandarin|japanese|korean|arabic|hindi|greek|hebrew|thai)\b"
)
_LANGUAGE_CODES: Final = {
    "english": "en", "spanish": "es", "french": "fr", "german": "de", "italian": "it",
    "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "mandarin": "zh",
    "japanese": "ja", "korean": "ko", "arabic": "ar", "hindi": "hi", "greek": "el",
    "hebrew": "he", "thai": "th",
}  # fmt: skip
_NON_LATIN_LETTER = re.compile(r"[\u0370-\u1FFF\u3040-\u9FFF\uAC00-\uD7AF]")
_SCRIPTS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("latin", re.compile(r"[A-Za-z\u00C0-\u024F]")),
    ("ru", re.compile(r"[\u0400-\u04FF]")),
    ("el", re.compile(r"[\u0370-\u03FF]")),
    ("ar", re.compile(r"[\u0600-\u06FF]")),
    ("he", re.compile(r"[\u0590-\u05FF]")),
    ("hi", re.compile(r"[\u0900-\u097F]")),
    ("th", re.compile(r"[\u0E00-\u0E7F]")),
    ("ko", re.compile(r"[\uAC00-\uD7AF]")),
    ("ja", re.compile(r"[\u3040-\u30FF]")),
    ("zh", re.compile(r"[\u4E00-\u9FFF]")),
)
_IDEOGRAPHIC = frozenset({"zh", "ja", "ko"})


def _language(text: str, words: list[str]) -> str | None:
    """A language code when the text says clearly which language it is in, else None."""
    sample = text[:2000]
    if not sample.isascii() and len(_NON_LATIN_LETTER.findall(sample)) >= 2:
        counts = {name: len(pattern.findall(sample)) for name, pattern in _SCRIPTS}
        if counts["ja"] and counts["zh"]:  # Japanese mixes kana and kanji
            counts["ja"] += counts.pop("zh")
        total = sum(counts.values())
        script = max(counts, key=lambda k: counts[k])
        least = 2 if script in _IDEOGRAPHIC else 8
        if counts[script] < least or counts[script] < 0.6 * total:
            return None
        if script != "latin":
            return script
    votes = Counter(lang for w in words[:200] if (lang := _LANG_MARKERS.get(w)))
    ranked = votes.most_common(2)
    if not ranked or ranked[0][1] < 3:
        return None
    if len(ranked) > 1 and ranked[0][1] < 2 * ranked[1][1]:
        return None
    return ranked[0][0]


# --------------------------------------------------------------------------------------------
# The query: what it asks for (cached: compare scores several answers to one query)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Constraint:
    kind: str  # json | table | list | numbered | sentences | words | one_word | yes_no | lines
    low: int = 0
    high: int = 0
    label: str = ""


@dataclass(frozen=True, slots=True)
class _Query:
    words: int
    key_stems: frozenset[str]
    language: str | None
    mentions_language: bool
    target_language: str | None
    code_expected: bool
    mathy: bool
    short_question: bool
    why: bool
    brevity: bool
    detail: bool
    form: str | None  # poem form or story/joke/slogan
    form_range: tuple[int, int] | None
    text_task: str | None  # summary | translate | rewrite | extract
    source_words: int
    source_stems: frozenset[str]
    constraints: tuple[_Constraint, ...]


_CODE_VERB = re.compile(
    r"\b(write|implement|create|fix|debug|refactor|rewrite|give me|show me|make|generate|"
    r"complete|optimi[sz]e|convert|build|code up)\b"
)
_CODE_NOUN = re.compile(
    r"\b(function|script|program|code|snippet|class|method|regex|regular expression|sql|"
    r"query|algorithm|implementation|unit tests?|endpoint|decorator|one-liner|bash|python|"
    r"javascript|typescript|java|c\+\+|rust|golang|go program|kotlin|swift|php|ruby)\b"
)
_MATHY = re.compile(
    r"\d\s*[-+*/^×÷]\s*\d|\b(solve|calculate|compute|how many|how much|sum|product|percent|"
    r"equation|integral|derivative|probability|average|mean)\b"
)
_SHORT_QUESTION = re.compile(
    r"^\s*(what|who|when|where|which|how many|how much|how old|how long|how far|is|are|was|"
    r"were|does|do|did|can|qu[eé]|qui|wer|wo|wann|cu[aá]l|d[oó]nde|quién)\b"
)
_MULTI_PART = re.compile(r"\b(and|or) (why|how|what|when|where|which|who)\b|\?.+\?")
_WHY = re.compile(r"\b(why|how does|how do|how did|what causes|reasons?)\b")
_BREVITY = re.compile(
    r"\b(briefly|brief|short|shortly|quick|quickly|concise|concisely|tl;?dr|one-liner|"
    r"in a nutshell|just tell me|in short|keep it short)\b"
)
_DETAIL = re.compile(
    r"\b(in detail|detailed|in depth|in-depth|comprehensive|thorough|thoroughly|essay|"
    r"elaborate|step[- ]by[- ]step|walk me through|explain|show (?:your |the |all )?"
    r"(?:work|working|steps|reasoning))\b"
)
_FORMS: Final[tuple[tuple[re.Pattern[str], str, tuple[int, int]], ...]] = (
    (re.compile(r"\bhaikus?\b"), "haiku", (8, 30)),
    (re.compile(r"\blimericks?\b"), "limerick", (20, 60)),
    (re.compile(r"\bsonnets?\b"), "sonnet", (80, 160)),
    (re.compile(r"\b(poem|verse|lyrics|song|rap|ode|ballad)s?\b"), "poem", (20, 350)),
    (re.compile(r"\b(story|tale|fable|fairy ?tale|screenplay)\b"), "story", (120, 1200)),
    (re.compile(r"\b(joke|pun|one-liner|riddle)s?\b"), "joke", (5, 100)),
    (re.compile(r"\b(slogan|tagline|motto|headline|title)s?\b"), "slogan", (2, 40)),
)  # fmt: skip
_POEM_LINES: Final = {"haiku": 3, "limerick": 5, "sonnet": 14}
_TEXT_TASKS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\b(summar\w*|tl;?dr|condense|shorten|key points|gist)\b"), "summary"),
    (re.compile(r"\b(translat\w*|tradu\w*|übersetz\w*)\b|翻译|翻訳|переведи"), "translate"),
    (
        re.compile(
            r"\b(rewrite|rephrase|paraphrase|proofread|correct|fix the grammar|edit|polish|"
            r"simplify|make (it|this) (more|less)|formal|informal)\b"
        ),
        "rewrite",
    ),
    (re.compile(r"\b(extract|find all|list all|classify|categori[sz]e|sentiment)\b"), "extract"),
)  # fmt: skip
_QUOTED_SOURCE = re.compile(r"```[^\n]*\n(.*?)```|[\"“«](.{30,}?)[\"”»]", re.DOTALL)

_JSON_ASK = re.compile(
    r"\b(?:in|as|into|to|return|output|respond(?: only)? (?:with|in)|reply (?:with|in)|"
    r"give me|format(?:ted)? (?:as|in)|only)\s+(?:a\s+|an\s+|valid\s+|only\s+|the\s+|strict\s+|"
    r"raw\s+)*json\b"
)
_TABLE_ASK = re.compile(
    r"\b(?:in|as|into|make|create|draw|using|format(?:ted)? as|produce|give me)\s+"
    r"(?:a\s+)?(?:markdown\s+|comparison\s+)?table\b"
)
_LIST_COUNT_ASK = re.compile(
    rf"\b{_COUNT}\s+(?:\w+\s+)?(bullet(?:ed)? ?points?|bullets|key points|points|items|tips|ways|"
    r"reasons|examples|ideas|steps|facts|names|options|suggestions|questions|benefits|"
    r"advantages|features)\b"
)
_LIST_ASK = re.compile(
    r"\b(bullet(?:ed)? ?points?|bulleted list|as a list|in a list|list format)\b"
)
_NUMBERED_ASK = re.compile(r"\bnumbered (list|steps)\b")
_SENTENCE_RANGE_ASK = re.compile(r"\b(\d+)\s*(?:-|–|to|or)\s*(\d+)\s+sentences\b")
_SENTENCE_ASK = re.compile(
    rf"\b(?:in|with|using|as|write|exactly|just|only)\s+{_COUNT}\s+sentences?\b"
)
_WORDS_MAX_ASK = re.compile(
    r"\b(?:under|fewer than|less than|at most|no more than|maximum(?: of)?|max|within|up to|"
    r"not exceeding|below)\s+(\d+)\s+words\b"
)
_WORDS_MIN_ASK = re.compile(
    r"\b(?:at least|no fewer than|minimum(?: of)?|more than|over)\s+(\d+)\s+words\b"
)
_WORDS_RANGE_ASK = re.compile(r"\b(\d+)\s*(?:-|–|to)\s*(\d+)\s*-?\s*words?\b")
# "in 100 words", "a 50-word summary"; not "5 words that rhyme with cat".
_WORDS_ABOUT_ASK = re.compile(
    r"\b(?:in|about|around|approximately|roughly|exactly|of)\s+(\d+)\s+words\b|\b(\d+)-word\b"
)
_ONE_WORD_ASK = re.compile(r"\b(?:one|a single|1|single)[- ]word\b")
_YES_NO_ASK = re.compile(r"\b(?:answer|reply|respond|just say)\b[^.?!\n]{0,20}\byes\b\W+or\W+no\b")
_MULTIPLE_FORMS = re.compile(
    r"\b(\d+|two|three|four|five|several|some)\s+(haikus?|limericks|sonnets)\b"
)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 1)


def _split_source(query: str) -> tuple[str, str]:
    """(instruction, given text) for queries that carry a text to operate on."""
    match = _QUOTED_SOURCE.search(query)
    if match:
        source = match.group(1) or match.group(2) or ""
        return query[: match.start()] + query[match.end() :], source
    for sep in ("\n\n", "\n", ":"):
        head, found, tail = query.partition(sep)
        if found and len(head) <= 300 and len(tail.split()) >= 12:
            return head, tail
    return query, ""


# compare and batch scoring ask several answers to one query; a small cache is enough.
@lru_cache(maxsize=256)
def _analyse_query(query: str) -> _Query:
    lowered = query.lower()
    instruction, source = _split_source(query)
    instruction_lower = instruction.lower()
    words = _tokens(lowered)
    source_words = _tokens(source.lower())
    # Numbers are key terms too: an answer to "17 * 23" that never mentions 17 or 23 is odd.
    key = _stems(
        {
            w
            for w in words
            if (len(w) >= 3 or w.isdigit() or _IDEOGRAPH.match(w)) and w not in _STOPWORDS
        }
    )
    mentions_language = bool(_LANGUAGE_NAMES.search(lowered))
    target = _TARGET_LANGUAGE.search(instruction_lower)
    form, form_range = None, None
    for pattern, name, length in _FORMS:
        if pattern.search(instruction_lower):
            form, form_range = name, length
            break
    text_task = next((name for p, name in _TEXT_TASKS if p.search(instruction_lower)), None)
    return _Query(
        words=len(words),
        key_stems=frozenset(key),
        language=_language(query, words),
        mentions_language=mentions_language,
        target_language=_LANGUAGE_CODES.get(target.group(1)) if target else None,
        code_expected=bool(
            _CODE_VERB.search(instruction_lower) and _CODE_NOUN.search(instruction_lower)
        )
        and form is None,
        mathy=bool(_MATHY.search(instruction_lower)),
        short_question=len(words) <= 14
        and bool(_SHORT_QUESTION.search(lowered))
        and not _MULTI_PART.search(lowered),
        why=bool(_WHY.search(instruction_lower)),
        brevity=bool(_BREVITY.search(instruction_lower)),
        detail=bool(_DETAIL.search(instruction_lower)),
        form=form,
        form_range=form_range,
        text_task=text_task,
        source_words=len(source_words),
        source_stems=frozenset(_stems(set(source_words) - _STOPWORDS)),
        constraints=_constraints(instruction_lower, form),
    )


def _constraints(text: str, form: str | None) -> tuple[_Constraint, ...]:
    found: list[_Constraint] = []
    if _JSON_ASK.search(text):
        found.append(_Constraint("json", label="JSON"))
    if _TABLE_ASK.search(text):
        found.append(_Constraint("table", label="a table"))
    count = _LIST_COUNT_ASK.search(text)
    if count and count.group(1) not in ("a", "an", "single", "a single"):
        n = _count(count.group(1))
        found.append(_Constraint("list", n, n, count.group(0)))
    elif _NUMBERED_ASK.search(text):
        found.append(_Constraint("numbered", label="a numbered list"))
    elif _LIST_ASK.search(text):
        found.append(_Constraint("list", label="a bulleted list"))
    if m := _SENTENCE_RANGE_ASK.search(text):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        found.append(_Constraint("sentences", lo, hi, f"{lo}-{hi} sentences"))
    elif m := _SENTENCE_ASK.search(text):
        n = _count(m.group(1))
        found.append(_Constraint("sentences", n, n, f"{n} sentence{'s' if n > 1 else ''}"))
    if m := _WORDS_MAX_ASK.search(text):
        found.append(_Constraint("words", 1, int(m.group(1)), f"at most {m.group(1)} words"))
    elif m := _WORDS_MIN_ASK.search(text):
        found.append(_Constraint("words", int(m.group(1)), 10**6, f"at least {m.group(1)} words"))
    elif m := _WORDS_RANGE_ASK.search(text):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        found.append(_Constraint("words", lo, hi, f"{lo}-{hi} words"))
    elif (m := _WORDS_ABOUT_ASK.search(text)) and int(m.group(1) or m.group(2)) > 1:
        n = int(m.group(1) or m.group(2))
        found.append(_Constraint("words", int(n * 0.7), int(n * 1.3) + 1, f"about {n} words"))
    if _ONE_WORD_ASK.search(text):
        found.append(_Constraint("one_word", label="one word"))
    if _YES_NO_ASK.search(text):
        found.append(_Constraint("yes_no", label="yes or no"))
    if form in _POEM_LINES and not _MULTIPLE_FORMS.search(text):
        n = _POEM_LINES[form]
        found.append(_Constraint("lines", n, n, f"a {form} ({n} lines)"))
    return tuple(found)


# --------------------------------------------------------------------------------------------
# The answer: prose, code blocks and counts, computed once
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    lang: str
    code: str
    closed: bool


@dataclass(slots=True)
class _Answer:
    text: str
    prose: str
    """The answer without its fenced code blocks."""
    blocks: list[_Block]
    unclosed_fence: bool
    words: list[str]
    """Lower-case words of the prose."""
    counts: Counter[str]
    joined: str
    """The prose words joined by single spaces and padded: " w1 w2 … ", so that a phrase
    search for " for example " matches whole words only."""
    sentences: list[str]
    prose_lines: list[str]
    paragraphs: list[str]
    list_items: int
    numbered_items: int
    headings: int
    table_rows: list[str]
    length: int
    """Words in the whole answer, code included (what length limits count)."""
    ideographic: bool
    """Mostly Chinese, Japanese or Korean: the English-word signals do not apply."""

    @property
    def n_words(self) -> int:
        return len(self.words)

    def phrases(self, phrases: tuple[str, ...]) -> int:
        return sum(self.joined.count(p) for p in phrases)

    def count(self, words: frozenset[str]) -> int:
        counts = self.counts
        return sum(counts[w] for w in words if w in counts)


def _split_code(text: str) -> tuple[str, list[_Block], bool]:
    if "```" not in text and "~~~" not in text:
        return text, [], False
    prose: list[str] = []
    blocks: list[_Block] = []
    fence: str | None = None
    lang = ""
    code: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence, lang, code = stripped[:3], stripped[3:].strip().lower(), []
        elif fence is not None and stripped.startswith(fence) and not stripped[3:].strip():
            blocks.append(_Block(lang, "\n".join(code), closed=True))
            fence = None
            prose.append("")
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    if fence is not None:
        blocks.append(_Block(lang, "\n".join(code), closed=False))
    return "\n".join(prose), blocks, fence is not None


_INLINE_CODE = re.compile(r"`[^`\n]+`")
_NUMBERED = re.compile(r"\d{1,3}[.)]\s")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_ENDS = (". ", "? ", "! ", "。", "？", "！")


def _sentences(prose: str) -> list[str]:
    # str.replace and split, not a regex: four times faster, and an abbreviation that ends
    # a "sentence" early ("e.g. ") moves no score much.
    for end in _SENTENCE_ENDS:
        if end in prose:
            prose = prose.replace(end, end.rstrip() + "\n")
    return [s for line in prose.split("\n") if (s := line.strip(" \t>#*-|"))]


def _analyse_answer(text: str) -> _Answer:
    prose, blocks, unclosed = _split_code(text)
    if "`" in prose:
        prose = _INLINE_CODE.sub(" code ", prose)
    words = _tokens(prose.lower())
    lines = [line for line in prose.split("\n") if line.strip()]
    list_items = numbered = headings = 0
    table_rows: list[str] = []
    for line in lines:
        stripped = line.lstrip()
        first = stripped[:1]
        if first in "-*+•" and stripped[1:2] == " ":
            list_items += 1
        elif first.isdigit() and _NUMBERED.match(stripped):
            list_items += 1
            numbered += 1
        elif first == "#" and stripped.lstrip("#")[:1] == " ":
            headings += 1
        if stripped.count("|") >= 2:
            table_rows.append(stripped)
    length = len(text.split())
    ideographs = 0
    if not text.isascii():  # Chinese and Japanese put no spaces between words
        ideographs = len(_IDEOGRAPH.findall(text))
        length += ideographs // 2
    return _Answer(
        text=text,
        prose=prose,
        blocks=blocks,
        unclosed_fence=unclosed,
        words=words,
        counts=Counter(words),
        joined=f" {' '.join(words)} ",
        sentences=_sentences(prose),
        prose_lines=lines,
        paragraphs=[p for p in _PARAGRAPH_BREAK.split(prose) if p.strip()]
        if "\n" in prose
        else [prose],
        list_items=list_items,
        numbered_items=numbered,
        headings=headings,
        table_rows=table_rows,
        length=length,
        ideographic=ideographs > 0.3 * len(words),
    )


# --------------------------------------------------------------------------------------------
# Code checks
# --------------------------------------------------------------------------------------------

_PY_LANGS = frozenset({"python", "py", "python3", "py3", "ipython", "pycon"})
_BRACE_LANGS = _wordset(
    "javascript js jsx ts tsx typescript java c cpp c++ cc h hpp csharp cs c# go golang rust rs "
    "kotlin kt swift php scala dart sql css scss lua perl r"
)
_LOOKS_PYTHON = re.compile(
    r"^\s*(?:def \w+\(|class \w+[(:]|import \w|from [\w.]+ import |print\(|@\w+|"
    r"if __name__|for \w+ in .+:\s*$|while .+:\s*$)",
    re.MULTILINE,
)
_C_STATEMENT_END = re.compile(r"[;{]\s*$", re.MULTILINE)
_STRING_LITERAL = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`")
_LINE_COMMENT = re.compile(r"//[^\n]*")
_HASH_COMMENT = re.compile(r"#[^\n]*")
_BRACKET = re.compile(r"[()\[\]{}]")
_PAIRS: Final = {")": "(", "]": "[", "}": "{"}
# Substring and whole-line checks, not regexes: an IGNORECASE alternation over a long code
# block costs more than parsing it.
_PLACEHOLDER_TEXT = ("todo", "fixme", "your code here", "implement this", "not implemented")
_PLACEHOLDER_LINES = frozenset({"...", "# ...", "// ...", "/* ... */", "pass  # todo"})
_USAGE_TEXT = ("assert", "print(", "console.log", "test", "example", ">>>")
_CODE_COMMENT = re.compile(r"(^|\s)(#|//|--)\s*\w|\"\"\"|/\*", re.MULTILINE)
_UNFENCED_CODE = re.compile(
    r"^\s*(?:def \w+\(.*\):|class \w+.*:|import \w+|from \w+ import|#include|"
    r"public (?:static |class )|function \w+\(|(?:const|let|var) \w+ =|return .+;|for \(.*\) ?\{)",
    re.MULTILINE,
)
_CODE_HINTS = ("def ", "class ", "import ", "#include", "public ", "function ", "const ", "let ")
_CODE_HINTS2 = ("var ", "return ", "for (")


def _unfenced_code_lines(prose: str) -> int:
    if not any(h in prose for h in _CODE_HINTS) and not any(h in prose for h in _CODE_HINTS2):
        return 0
    return len(_UNFENCED_CODE.findall(prose))


def _strip_block_comments(code: str) -> str:
    # str.find, not a lazy regex: many unclosed "/*" would make a regex quadratic.
    kept: list[str] = []
    start = 0
    while (opening := code.find("/*", start)) >= 0:
        kept.append(code[start:opening])
        closing = code.find("*/", opening + 2)
        if closing < 0:
            return "".join(kept)  # an unclosed comment runs to the end
        start = closing + 2
    kept.append(code[start:])
    return "".join(kept)


def _bracket_problem(code: str, *, hash_comments: bool = False, prose: bool = False) -> str | None:
    if not prose:  # in prose an apostrophe is not a quote, and // is not a comment
        code = _STRING_LITERAL.sub('""', code)
        code = _LINE_COMMENT.sub("", _strip_block_comments(code))
    if hash_comments:
        code = _HASH_COMMENT.sub("", code)
    stack: list[str] = []
    for char in _BRACKET.findall(code):
        if char in "([{":
            stack.append(char)
        elif not stack or stack.pop() != _PAIRS[char]:
            return f"unmatched {char!r}"
    return f"unclosed {stack[-1]!r}" if stack else None


def _python_problem(code: str) -> str | None:
    lines = code.split("\n")
    if any(line.lstrip().startswith(">>>") for line in lines):
        # A console session: only the typed lines are code.
        lines = [line.lstrip()[4:] for line in lines if line.lstrip().startswith((">>>", "..."))]
        code = "\n".join(lines)
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"cannot parse: {type(exc).__name__}"
    return None


def _block_language(block: _Block) -> str:
    if block.lang:
        return block.lang
    if _LOOKS_PYTHON.search(block.code) and not _C_STATEMENT_END.search(block.code):
        return "python"
    return ""


def _block_problem(block: _Block) -> str | None:
    """What is syntactically wrong with a code block, or None (also when it cannot tell)."""
    lang = _block_language(block)
    if lang in _PY_LANGS:
        return _python_problem(block.code)
    if lang == "json":
        try:
            json.loads(block.code)
        except ValueError as exc:
            return f"invalid JSON: {exc}"
        return None
    if lang in _BRACE_LANGS:
        return _bracket_problem(block.code, hash_comments=lang in ("php", "r", "perl"))
    return None


# --------------------------------------------------------------------------------------------
# Penalty detectors
# --------------------------------------------------------------------------------------------

_REFUSAL = re.compile(
    r"\b(?:i (?:cannot|can't|can ?not|am unable to|'m unable to|am not able to|won't|will not)"
    r"\s+(?:help|assist|provide|do|answer|comply|fulfil+|create|write|generate|give|share|"
    r"complete|support|engage|discuss)|i(?:'m| am) (?:sorry|afraid),? (?:but )?i (?:cannot|"
    r"can't|am unable|won't|can not)|i must (?:decline|refuse)|i(?:'m| am) not (?:able|allowed|"
    r"permitted) to (?:help|assist|provide|answer|do)|(?:this|that|your) request (?:goes "
    r"against|violates)|i can(?:no|')t (?:assist|help) with (?:that|this))"
)
_NON_ANSWER = re.compile(
    r"\b(?:i (?:don't|do not) know|no idea|i have no information|i'm not sure)\b"
)
_DISCLAIMER = re.compile(
    r"\b(?:as an ai(?: language model| assistant)?|as a (?:large )?language model|"
    r"i(?:'m| am) (?:just )?an ai)\b"
)
# An unpunctuated last line that ends on one of these cannot be a finished sentence ("Try
# this" or "I think so" can, so "this" and "so" are not here).
_DANGLING = re.compile(
    r"(?:[,:;(\[{–—-]|\b(?:the|a|an|and|or|but|of|to|with|which|because|from|their|its|our|"
    r"your|whose|whether|between|into|than))\s*$",
    re.IGNORECASE,
)
_TERMINAL = frozenset(".!?…)]}\"'”’*`|>:;。！？」")


def _truncation(answer: _Answer) -> str | None:
    if answer.unclosed_fence:
        return "a code block is never closed (the answer stops inside it)"
    tail = answer.text.rstrip()
    if answer.blocks and tail.endswith(("```", "~~~")):
        return None
    last_line = tail.rsplit("\n", 1)[-1].strip()
    if not last_line or answer.n_words < 8:
        return None
    is_item = last_line[:1] in "-*+•" or bool(_NUMBERED.match(last_line))
    if _DANGLING.search(last_line[-30:]) and not is_item:
        return f"the answer stops mid-sentence: '…{last_line[-40:]}'"
    if last_line[-1] in _TERMINAL or not last_line[-1].isalnum() or is_item:
        return None
    # A long last sentence that ends in a word, in an answer whose other sentences end
    # properly (or one so long that a model would have punctuated it). Short unpunctuated
    # endings ("try this") are common in chat and are let be.
    ended = sum(1 for s in answer.sentences[:-1] if s[-1:] in _TERMINAL)
    words = answer.sentences[-1].count(" ") + 1 if answer.sentences else 0
    if words >= 15 or (words >= 12 and ended >= 1):
        return f"the answer stops mid-sentence: '…{last_line[-40:]}'"
    return None


def _repetition(answer: _Answer, creative: bool) -> tuple[float, str] | None:
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


_LIST_PAREN = re.compile(r"^\s*(?:\d+|[a-zA-Z]|[ivx]+)\)\s", re.MULTILINE)
_EMOTICON = re.compile(r"[:;]-?[()]")


def _prose_bracket_problem(prose: str) -> str | None:
    # "1) first", "a) option" and ":)" are not brackets that need a partner.
    cleaned = _LIST_PAREN.sub(" ", prose) if ")" in prose else prose
    if ":" in cleaned or ";" in cleaned:
        cleaned = _EMOTICON.sub(" ", cleaned)
    problem = _bracket_problem(cleaned, prose=True)
    return f"brackets in the text do not balance ({problem})" if problem else None


# --------------------------------------------------------------------------------------------
# Dimensions
# --------------------------------------------------------------------------------------------


def _clip(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def _structure(a: _Answer) -> float:
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
    return _clip(score)


_EXAMPLE_PHRASES = (
    " for example ", " for instance ", " e g ", " such as ", " example ", " consider ",
    " imagine ", " say you ", " suppose ", " input ", " output ", " sample ", " like when ",
)  # fmt: skip


def _examples(a: _Answer) -> float | None:
    if a.n_words < 40:
        return None
    hits = a.phrases(_EXAMPLE_PHRASES) + a.text.count(">>>") + len(a.blocks)
    return _clip(0.5 + 0.25 * hits)


def _formatting(a: _Answer, prose_brackets: str | None, unfenced: int) -> float:
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
    return _clip(score)


def _code_quality(a: _Answer, problems: list[str], unfenced: int) -> float:
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
    return _clip(score)


_CONCLUSION_PHRASES = (
    " the answer is ", " answer ", " therefore ", " thus ", " hence ", " so the ", " in total ",
    " total is ", " result is ", " equals ", " which gives ", " we get ", " qed ", " so ",
    " in conclusion ", " overall ", " in short ",
)  # fmt: skip
_EQUALS_NUMBER = re.compile(r"=\s*\**\s*-?\$?\d")


def _concluded(a: _Answer) -> bool:
    return (
        any(p in a.joined for p in _CONCLUSION_PHRASES)
        or "\\boxed" in a.text
        or "∎" in a.text
        or ("=" in a.prose and bool(_EQUALS_NUMBER.search(a.prose)))
    )


def _math_accuracy(a: _Answer, claims: list[ArithmeticClaim], q: _Query) -> float | None:
    if not claims and not q.mathy:
        return None
    has_final = _concluded(a) or (a.n_words <= 6 and any(w[0].isdigit() for w in a.words))
    if not claims:
        return 0.75 if has_final else 0.45
    wrong = sum(not c.ok for c in claims)
    if wrong:
        return 0.3 * (len(claims) - wrong) / len(claims)
    return _clip(0.8 + 0.1 * min(2, len(claims)) - (0.0 if has_final else 0.1))


_IMAGERY: Final = _wordset(
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


def _creativity(a: _Answer, q: _Query) -> float | None:
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
    variety = _clip((ttr - floor) / 0.35)
    # The query's own words ("autumn rain") are the topic, not imagery the answer brought.
    topic = q.key_stems
    vivid = sum(a.counts[w] for w in _IMAGERY if w in a.counts and _stem(w) not in topic)
    vivid += a.phrases(_SIMILE_PHRASES)
    if " as " in a.joined:
        vivid += len(_AS_AS.findall(a.joined))
    imagery = _clip(vivid / max(0.5, n / 100) / 10)
    if q.form in ("poem", "haiku", "limerick", "sonnet"):
        form = 1.0 if len(a.prose_lines) >= 3 else 0.3
    elif q.form == "story":
        form = 1.0 if len(a.paragraphs) >= 2 or _DIALOGUE.search(a.prose) else 0.6
    else:
        form = 0.7
    return _clip(0.45 * variety + 0.35 * imagery + 0.2 * form)


_MID_SENTENCE_CAPITAL = re.compile(r"[a-z,;:(] [A-Z]")
_HEDGE_WORDS = _wordset("maybe perhaps possibly probably reportedly allegedly")
_HEDGE_PHRASES = (
    " i think ", " i believe ", " i guess ", " not sure ", " not certain ", " might be ",
    " may be ", " could be ", " it depends ", " hard to say ", " some say ",
)  # fmt: skip
_VAGUE_WORDS = _wordset("things stuff various etc")
_VAGUE_PHRASES = (" and so on ", " some people ", " many people ")


def _factual(a: _Answer) -> float | None:
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
        0.35 * _clip(specifics / n * 100 / 6)
        + 0.35 * _clip(specifics / 8)
        + 0.3 * _clip(technical / 0.12)
    )
    hedges = (a.count(_HEDGE_WORDS) + a.phrases(_HEDGE_PHRASES)) / max(1, len(a.sentences))
    vague = a.count(_VAGUE_WORDS) + a.phrases(_VAGUE_PHRASES)
    return _clip(0.35 + 0.6 * specific - 0.6 * min(0.5, hedges) - 0.05 * min(3, vague))


_IDENTIFIER_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _answer_stems(a: _Answer) -> set[str]:
    stems = _stems(set(a.counts))
    for block in a.blocks:  # identifiers count: is_palindrome takes up "palindrome"
        stems |= _stems({w.lower() for w in _IDENTIFIER_PART.findall(block.code)})
        stems.add(_stem(block.lang))
    return stems


_CASUAL_WORDS = _wordset("you your i'm i we let's glad happy hope thanks sure")
_ROBOTIC_PHRASES = (
    " as an ai ", " language model ", " in conclusion ", " furthermore ", " moreover ",
    " it is important to note ", " i do not have feelings ", " i do not have emotions ",
    " i do not have personal ", " functioning ",
)  # fmt: skip


def _tone(a: _Answer) -> float:
    score = 0.6
    casual = a.count(_CASUAL_WORDS) + a.prose.count("!") + a.prose.count("?")
    score += 0.2 if casual >= 2 else 0.1 if casual else 0.0
    score += 0.1 if a.n_words <= 80 else 0.0
    if a.headings or len(a.table_rows) >= 2:
        score -= 0.3  # a chat reply is not a report
    if a.list_items >= 5:
        score -= 0.15
    score -= 0.15 * min(2, a.phrases(_ROBOTIC_PHRASES))
    return _clip(score)


_CONNECTIVE_WORDS = _wordset(
    "because therefore thus hence so since consequently first second third then next finally "
    "if otherwise but however step"
)
_CONNECTIVE_PHRASES = (" which means ", " it follows ", " as a result ", " given that ")


def _coherence(a: _Answer) -> float | None:
    if a.ideographic:
        return None
    if a.n_words < 12:
        return 0.4  # a bare verdict: nothing wrong, but no reasoning shown
    connectives = a.count(_CONNECTIVE_WORDS) + a.phrases(_CONNECTIVE_PHRASES)
    rate = connectives / max(1, len(a.sentences))
    return _clip(0.25 + 0.45 * min(1.0, rate / 0.6) + (0.3 if _concluded(a) else 0.0))


def _faithfulness(a: _Answer, q: _Query) -> float | None:
    if not q.source_stems or q.text_task == "translate" or q.mentions_language:
        return None
    # Distinct content words: how much of the answer's vocabulary the text supports.
    content = [w for w in a.counts if w not in _STOPWORDS and not w[0].isdigit()]
    if not content:
        return None
    supported = sum(1 for w in content if _stem(w) in q.source_stems) / len(content)
    score = _clip(supported / 0.8)
    if q.text_task == "summary" and q.source_words:
        # Copying the text back is not summarising it.
        ratio = a.n_words / q.source_words
        score *= 1.0 if ratio <= 0.7 else _clip((1.2 - ratio) / 0.5) * 0.6 + 0.4
    return score


_DEFAULT_LENGTH: Final[dict[Domain, tuple[int, int]]] = {
    "chat": (1, 60),
    "coding": (20, 500),
    "math": (3, 350),
    "reasoning": (15, 450),
    "creative": (30, 500),
    "knowledge": (15, 400),
    "text": (5, 300),
}


# The least a query that asks for detail ("explain", "step by step") needs, per domain.
_DETAIL_MINIMUM: Final[dict[Domain, int]] = {
    "chat": 20,
    "coding": 40,
    "math": 12,
    "reasoning": 40,
    "creative": 60,
    "knowledge": 60,
    "text": 20,
}


def _expected_length(q: _Query, domain: Domain) -> tuple[float, float, bool]:
    """(low, high, explicit) number of words the query asks for."""
    lo: float
    hi: float
    summary_cap = max(25, 0.6 * q.source_words) if q.text_task == "summary" else math.inf
    for c in q.constraints:
        if c.kind in ("words", "one_word", "sentences"):
            if c.kind == "words":
                lo, hi = c.low, c.high
            elif c.kind == "one_word":
                lo, hi = 1, 3
            else:
                lo, hi = max(1, 4 * c.low), 35 * c.high + 10
            # "Summarise in 3 sentences" also means: shorter than the text.
            hi = min(hi, summary_cap) if q.source_words >= 12 else hi
            return min(lo, hi), hi, True
    if q.form_range:
        lo, hi = q.form_range
        return lo, hi, False
    if q.source_words >= 12 and q.text_task:
        s = q.source_words
        if q.text_task == "summary":
            return max(5, 0.05 * s), summary_cap, False
        if q.text_task in ("translate", "rewrite"):
            return max(1, 0.5 * s), max(8, 1.7 * s), False
        return 1, max(40, 0.6 * s), False
    lo, hi = _DEFAULT_LENGTH[domain]
    if q.short_question:
        lo, hi = 1, min(hi, 150)
    if q.brevity:
        lo, hi = 1, max(25, hi / 3)
    elif q.detail:
        # "Show your working" on a sum asks for a few steps whatever the domain.
        least = _DETAIL_MINIMUM["math" if q.mathy else domain]
        lo, hi = max(lo, least), hi * 1.5
    elif q.why:
        # A reason takes a sentence or two; an explanation of how or why the world works, more.
        lo = max(lo, 40 if domain in ("knowledge", "reasoning") else 25)
    if q.words > 60:
        hi *= 1.5
    return lo, hi, False


def _length_fit(n: int, lo: float, hi: float) -> float:
    if lo <= n <= hi:
        return 1.0
    ratio = n / lo if n < lo else n / hi
    # Gaussian in log-ratio: half or double the range's edge scores about 0.6.
    return math.exp(-(math.log(max(ratio, 1e-3)) ** 2) / (2 * 0.7**2))


def _json_ok(a: _Answer) -> bool:
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


def _constraint_met(c: _Constraint, a: _Answer) -> bool:
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


def _describe_miss(c: _Constraint, a: _Answer) -> str:
    if c.kind == "words":
        return f"the query asks for {c.label}; the answer has {a.length}"
    if c.kind == "sentences":
        return f"the query asks for {c.label}; the answer has {len(a.sentences)}"
    if c.kind == "lines":
        return f"the query asks for {c.label}; the answer has {len(a.prose_lines)} lines"
    if c.kind == "list" and c.low:
        return f"the query asks for {c.label}; the answer has {a.list_items} list items"
    return f"the query asks for {c.label}; the answer is not in that form"


# --------------------------------------------------------------------------------------------
# The scorer
# --------------------------------------------------------------------------------------------

WeightOverrides = Mapping[str, Mapping[str, float]]
# Blended weights (no domain given) below this are skipped: they would move the score by
# less than its rounding and cost time.
_NEGLIGIBLE_WEIGHT = 0.02
_LENGTH_KINDS = ("words", "sentences", "one_word")


class ResponseScorer:
    """Scores answers on the rubric in this module's docstring.

    Args:
        weights: per-domain weight overrides, e.g. ``{"coding": {"code_quality": 0.5}}``;
            dimensions not named keep their defaults (:data:`DOMAIN_WEIGHTS`). Weights are
            relative: they are renormalised over the dimensions that apply to each answer.
        threshold: below it an answer is ``weak`` (default :data:`WEAK_THRESHOLD`).
        classifier: infers the query's domain when ``score`` gets none (default: the rules
            classifier, microseconds per query and cached).

    Raises:
        ConfigError: an unknown domain or dimension in ``weights``, a negative weight, a
            domain whose weights are all zero, or a threshold outside [0, 1].
    """

    def __init__(
        self,
        weights: WeightOverrides | None = None,
        *,
        threshold: float = WEAK_THRESHOLD,
        classifier: Classifier | None = None,
    ) -> None:
        if not (
            isinstance(threshold, int | float)
            and not isinstance(threshold, bool)
            and 0.0 <= threshold <= 1.0
        ):
            raise ConfigError(f"threshold must be a number in [0, 1]; got {threshold!r}")
        self.threshold = float(threshold)
        self.weights: dict[str, dict[str, float]] = _merge_weights(weights or {})
        self._classifier = classifier

    def _domain_weights(self, query: str, domain: str | None) -> tuple[dict[str, float], Domain]:
        if domain is not None:
            if domain not in DOMAINS:
                raise InputError(
                    f"unknown domain {domain!r}; pass one of {', '.join(DOMAINS)} or None to "
                    "infer it from the query"
                )
            chosen: Domain = domain
            return self.weights[chosen], chosen
        if self._classifier is None:
            self._classifier = _default_classifier()
        result = self._classifier.classify([query])[0]
        blended: dict[str, float] = {
            dim: sum(result.domain_probs.get(d, 0.0) * self.weights[d][dim] for d in DOMAINS)
            for dim in DIMENSIONS
        }
        return blended, result.domain

    def score(self, query: str, answer: str, domain: str | None = None) -> ResponseScore:
        """Score ``answer`` as a reply to ``query``.

        ``domain`` picks the weights: one of :data:`~smartroute_graph.core.taxonomy.DOMAINS`, or
        None to blend them by the query's inferred domain probabilities.

        Raises:
            InputError: ``domain`` is not one of the seven domains, or ``query`` or
                ``answer`` is not a string.
        """
        if not isinstance(query, str) or not isinstance(answer, str):
            raise InputError(
                "score() takes the query and the answer as strings; got "
                f"{type(query).__name__} and {type(answer).__name__} (pass message.text)"
            )
        weights, chosen = self._domain_weights(query, domain)
        inferred = domain is None
        text = answer.strip()
        q = _analyse_query(query)
        if not text or not any(c.isalnum() for c in text[:2000]):
            return ResponseScore(
                score=0.0,
                weak=True,
                threshold=self.threshold,
                dimensions={},
                weights={},
                penalties=(Penalty(code="empty", amount=1.0, reason="the answer is empty"),),
                domain=chosen,
                domain_inferred=inferred,
                stats={"words": 0},
            )
        a = _analyse_answer(text)

        # Checks that dimensions and penalties share.
        has_digit = any(c.isdigit() for c in a.prose)
        claims = check_arithmetic(a.prose) if has_digit else []
        wrong = [c for c in claims if not c.ok]
        problems = [p for b in a.blocks if (p := _block_problem(b))]
        prose_brackets = _prose_bracket_problem(a.prose) if _BRACKET.search(a.prose) else None
        unfenced = _unfenced_code_lines(a.prose)
        covered = len(q.key_stems & _answer_stems(a)) if q.key_stems else 0
        coverage = covered / len(q.key_stems) if q.key_stems else 1.0
        lo, hi, explicit = _expected_length(q, chosen)
        met = {c: _constraint_met(c, a) for c in q.constraints}

        dims: dict[str, float] = {}
        for dim, weight in weights.items():
            if weight < (_NEGLIGIBLE_WEIGHT if inferred else 1e-12):
                continue
            value: float | None
            if dim == "structure":
                value = _structure(a)
            elif dim == "examples":
                value = _examples(a)
            elif dim == "formatting":
                value = _formatting(a, prose_brackets, unfenced)
            elif dim == "code_quality":
                value = (
                    _code_quality(a, problems, unfenced) if q.code_expected or a.blocks else None
                )
            elif dim == "math_accuracy":
                value = _math_accuracy(a, claims, q)
            elif dim == "creativity":
                value = _creativity(a, q)
            elif dim == "factual":
                value = _factual(a)
            elif dim == "relevance":
                usable = len(q.key_stems) >= 2 and q.text_task != "translate"
                value = (
                    _clip(0.25 + 1.25 * coverage) if usable and not q.mentions_language else None
                )
            elif dim == "length_fit":
                value = _length_fit(a.length, lo, hi)
            elif dim == "faithfulness":
                value = _faithfulness(a, q)
            elif dim == "instructions":
                value = sum(met.values()) / len(met) if met else None
            elif dim == "tone":
                value = _tone(a)
            else:
                value = _coherence(a)
            if value is not None:
                dims[dim] = round(_clip(value), 4)

        penalties = _penalties(q, a, chosen, claims, wrong, problems, prose_brackets, unfenced)
        penalties += _query_penalties(q, a, covered, coverage, met, lo, hi, explicit)

        total = sum(weights[d] for d in dims)
        shares = {d: weights[d] / total for d in dims} if total > 0 else {}
        base = sum(shares[d] * dims[d] for d in dims) if shares else 0.5
        overall = _clip(base - sum(p.amount for p in penalties))
        return ResponseScore(
            score=round(overall, 4),
            weak=overall < self.threshold,
            threshold=self.threshold,
            dimensions=dims,
            weights={d: round(s, 4) for d, s in shares.items()},
            penalties=tuple(penalties),
            domain=chosen,
            domain_inferred=inferred,
            stats={
                "words": a.length,
                "sentences": len(a.sentences),
                "code_blocks": len(a.blocks),
                "arithmetic_claims": len(claims),
                "arithmetic_wrong": len(wrong),
                "key_terms": len(q.key_stems),
                "key_terms_found": covered,
            },
        )


def _penalty(code: PenaltyCode, amount: float, reason: str) -> Penalty:
    return Penalty(code=code, amount=round(amount, 4), reason=reason)


def _penalties(
    q: _Query,
    a: _Answer,
    domain: Domain,
    claims: list[ArithmeticClaim],
    wrong: list[ArithmeticClaim],
    problems: list[str],
    prose_brackets: str | None,
    unfenced: int,
) -> list[Penalty]:
    """The errors in the answer itself that make it worth re-asking."""
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
    if cut := _truncation(a):
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


def _query_penalties(
    q: _Query,
    a: _Answer,
    covered: int,
    coverage: float,
    met: dict[_Constraint, bool],
    lo: float,
    hi: float,
    explicit: bool,
) -> list[Penalty]:
    """What the answer does not do that the query asked: language, topic, format, length."""
    found: list[Penalty] = []
    expected = q.target_language or (None if q.mentions_language else q.language)
    if expected:
        actual = _language(a.prose, a.words)
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


def _merge_weights(overrides: WeightOverrides) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {
        d: {dim: w for dim, w in ws.items()} for d, ws in DOMAIN_WEIGHTS.items()
    }
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            "weights must map a domain to {dimension: weight}, e.g. "
            f"{{'coding': {{'code_quality': 0.5}}}}; got {type(overrides).__name__}"
        )
    for domain, values in overrides.items():
        if domain not in DOMAINS:
            raise ConfigError(
                f"weights name unknown domain {domain!r}; use one of {', '.join(DOMAINS)}"
            )
        for dim, weight in values.items():
            if dim not in DIMENSIONS:
                raise ConfigError(
                    f"weights for {domain!r} name unknown dimension {dim!r}; use one of "
                    f"{', '.join(DIMENSIONS)}"
                )
            if not (
                isinstance(weight, int | float)
                and not isinstance(weight, bool)
                and math.isfinite(weight)
                and weight >= 0
            ):
                raise ConfigError(
                    f"weight {domain}.{dim} must be a finite number >= 0; got {weight!r}"
                )
            merged[domain][dim] = float(weight)
        if sum(merged[domain].values()) <= 0:
            raise ConfigError(f"the weights for {domain!r} are all zero; give one a weight > 0")
    return merged


@lru_cache(maxsize=1)
def _default_classifier() -> Classifier:
    return RulesClassifier()


@lru_cache(maxsize=1)
def _default_scorer() -> ResponseScorer:
    return ResponseScorer()


def score_response(query: str, answer: str, domain: str | None = None) -> ResponseScore:
    """Score ``answer`` to ``query`` with the default :class:`ResponseScorer`.

    ``domain`` (one of the seven taxonomy domains) picks the weights; None infers it from the
    query. See the module docstring for what the score means (below 0.45: weak, re-ask).
    """
    return _default_scorer().score(query, answer, domain)
