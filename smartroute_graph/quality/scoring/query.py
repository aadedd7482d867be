"""The query: what it asks for, parsed once (and cached: compare scores several answers to one).

:func:`analyse_query` reads the query's key terms, its language and any language it asks
for, whether it wants code or a sum, its form (a poem, a story), a text it carries to
operate on (a summary, a translation) and the explicit format instructions it gives
(:class:`Constraint`: JSON, a table, N bullet points, N sentences, a word limit, ...).
:func:`expected_length` turns all that into the number of words an answer should have.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from smartroute_graph.core.taxonomy import Domain
from smartroute_graph.quality.scoring.language import (
    IDEOGRAPH,
    STOPWORDS,
    detect_language,
    mentions_language,
    stems,
    target_language,
    tokens,
)

__all__ = ["Constraint", "Query", "analyse_query", "expected_length"]


@dataclass(frozen=True, slots=True)
class Constraint:
    """One explicit format instruction of a query.

    Attributes:
        kind: ``json``, ``table``, ``list``, ``numbered``, ``sentences``, ``words``,
            ``one_word``, ``yes_no`` or ``lines``.
        low: The least count asked for (items, sentences, words, lines), 0 when none.
        high: The most count asked for, 0 when none.
        label: The instruction in words, for a penalty's reason ("at most 50 words").
    """

    kind: str  # json | table | list | numbered | sentences | words | one_word | yes_no | lines
    low: int = 0
    high: int = 0
    label: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """What a query asks for, as the scorer's checks need it.

    Attributes:
        words: Tokens in the query.
        key_stems: Stems of its topic words (function words and words of asking left out).
        language: The language it is written in, when clear.
        mentions_language: It names a language or asks for a translation.
        target_language: The language it asks the answer to be in ("into French").
        code_expected: It asks for code to be written.
        mathy: It asks for a calculation.
        short_question: A short factual question ("what is ...", "how many ...").
        why: It asks for a reason or how something works.
        brevity: It asks for a brief answer.
        detail: It asks for detail or working.
        form: The form asked for: a poem form (``haiku``, ``limerick``, ``sonnet``,
            ``poem``), ``story``, ``joke`` or ``slogan``.
        form_range: The usual length of that form in words.
        text_task: The operation on a given text: ``summary``, ``translate``, ``rewrite``
            or ``extract``.
        source_words: Tokens in the text to operate on (0 when none is given).
        source_stems: Stems of that text's content words.
        constraints: The explicit format instructions.
        visual: It asks for a description of something seen (an image, a photo, a chart,
            a scene, what something looks like).
    """

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
    constraints: tuple[Constraint, ...]
    visual: bool = False


_NUMBER_WORDS: Final = {
    "a": 1, "an": 1, "one": 1, "single": 1, "a single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12,
}  # fmt: skip
_COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a single|single|an?)"
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
# A request to describe something seen: a describing verb near a visual noun ("describe this
# photo", "what is in the picture"), or a question about looks. Nouns with other common
# senses (graph, plot, map, frame) are left out: "describe a graph algorithm" is not visual.
_VISUAL_NOUN = (
    r"(?:image|images|picture|pictures|photo|photos|photograph|screenshot|diagram|chart|"
    r"figure|illustration|drawing|painting|sketch|logo|scene|video|slide|poster|artwork|x-ray)"
)
_VISUAL_ASK: Final = re.compile(
    r"\b(?:describe|description of|caption|what(?:'s| is| do you see| can you see)"
    r"(?: shown)? in|what is shown|what does (?:this|the|it) (?:\w+ )?show|what do you see|"
    r"look at)\b[^.?!\n]{0,40}?\b" + _VISUAL_NOUN + r"\b"
    r"|\bwhat (?:does|do) (?:\w+ ){1,4}look like\b"
    r"|\bdescribe (?:the |its |their )?(?:appearance|looks|colou?rs|layout|scenery)\b"
)

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
def analyse_query(query: str) -> Query:
    """Read what a query asks for.

    Args:
        query: The query as the user wrote it.

    Returns:
        Its analysis (cached: the same query is analysed once).
    """
    lowered = query.lower()
    instruction, source = _split_source(query)
    instruction_lower = instruction.lower()
    words = tokens(lowered)
    source_words = tokens(source.lower())
    # Numbers are key terms too: an answer to "17 * 23" that never mentions 17 or 23 is odd.
    key = stems(
        {
            w
            for w in words
            if (len(w) >= 3 or w.isdigit() or IDEOGRAPH.match(w)) and w not in STOPWORDS
        }
    )
    form, form_range = None, None
    for pattern, name, length in _FORMS:
        if pattern.search(instruction_lower):
            form, form_range = name, length
            break
    text_task = next((name for p, name in _TEXT_TASKS if p.search(instruction_lower)), None)
    return Query(
        words=len(words),
        key_stems=frozenset(key),
        language=detect_language(query, words),
        mentions_language=mentions_language(lowered),
        target_language=target_language(instruction_lower),
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
        source_stems=frozenset(stems(set(source_words) - STOPWORDS)),
        constraints=_constraints(instruction_lower, form),
        visual=bool(_VISUAL_ASK.search(instruction_lower)),
    )


def _constraints(text: str, form: str | None) -> tuple[Constraint, ...]:
    found: list[Constraint] = []
    if _JSON_ASK.search(text):
        found.append(Constraint("json", label="JSON"))
    if _TABLE_ASK.search(text):
        found.append(Constraint("table", label="a table"))
    count = _LIST_COUNT_ASK.search(text)
    if count and count.group(1) not in ("a", "an", "single", "a single"):
        n = _count(count.group(1))
        found.append(Constraint("list", n, n, count.group(0)))
    elif _NUMBERED_ASK.search(text):
        found.append(Constraint("numbered", label="a numbered list"))
    elif _LIST_ASK.search(text):
        found.append(Constraint("list", label="a bulleted list"))
    if m := _SENTENCE_RANGE_ASK.search(text):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        found.append(Constraint("sentences", lo, hi, f"{lo}-{hi} sentences"))
    elif m := _SENTENCE_ASK.search(text):
        n = _count(m.group(1))
        found.append(Constraint("sentences", n, n, f"{n} sentence{'s' if n > 1 else ''}"))
    if m := _WORDS_MAX_ASK.search(text):
        found.append(Constraint("words", 1, int(m.group(1)), f"at most {m.group(1)} words"))
    elif m := _WORDS_MIN_ASK.search(text):
        found.append(Constraint("words", int(m.group(1)), 10**6, f"at least {m.group(1)} words"))
    elif m := _WORDS_RANGE_ASK.search(text):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        found.append(Constraint("words", lo, hi, f"{lo}-{hi} words"))
    elif (m := _WORDS_ABOUT_ASK.search(text)) and int(m.group(1) or m.group(2)) > 1:
        n = int(m.group(1) or m.group(2))
        found.append(Constraint("words", int(n * 0.7), int(n * 1.3) + 1, f"about {n} words"))
    if _ONE_WORD_ASK.search(text):
        found.append(Constraint("one_word", label="one word"))
    if _YES_NO_ASK.search(text):
        found.append(Constraint("yes_no", label="yes or no"))
    if form in _POEM_LINES and not _MULTIPLE_FORMS.search(text):
        n = _POEM_LINES[form]
        found.append(Constraint("lines", n, n, f"a {form} ({n} lines)"))
    return tuple(found)


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


def expected_length(q: Query, domain: Domain) -> tuple[float, float, bool]:
    """Return the number of words an answer to the query should have.

    An explicit limit ("in 50 words", "in 3 sentences") wins; then the form asked for, the
    length of a given text to summarise, translate or rewrite, and last the domain's usual
    length adjusted for "briefly", "in detail", "why" and short questions.

    Args:
        q: The query's analysis.
        domain: The domain whose usual length applies when the query states none.

    Returns:
        ``(low, high, explicit)``: the range in words, and whether the query stated it.
    """
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
