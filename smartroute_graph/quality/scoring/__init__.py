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
- ``visual_description``: only when the query asks to describe something seen (an image, a
  photo, a chart, a scene, what something looks like; the older OpenRouter router's
  evaluator rated this too): the breadth and density of visual detail (colours, positions,
  shapes and sizes, light, counts); an answer that says it cannot see the image scores low
  (and is a ``refusal``).

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

Modules, each leaning only on those above it:

- :mod:`~smartroute_graph.quality.scoring.arithmetic`: :func:`safe_eval` and
  :func:`check_arithmetic`.
- :mod:`~smartroute_graph.quality.scoring.language`: tokens, stems, stopwords, language
  detection.
- :mod:`~smartroute_graph.quality.scoring.query`: what the query asks for (key terms, form,
  format instructions, the length it wants).
- :mod:`~smartroute_graph.quality.scoring.answer`: the answer taken apart (prose, code blocks,
  counts) and the checks of its form (code that does not parse, brackets, truncation).
- :mod:`~smartroute_graph.quality.scoring.rubric`: the dimensions, their weights per domain
  and the function that rates each.
- :mod:`~smartroute_graph.quality.scoring.visual`: the ``visual_description`` dimension.
- :mod:`~smartroute_graph.quality.scoring.penalties`: the penalties and their reasons.
- :mod:`~smartroute_graph.quality.scoring.scorer`: :class:`ResponseScorer`, which puts them
  together, and :func:`score_response`.
"""

from smartroute_graph.quality.scoring.arithmetic import (
    MAX_CLAIMS,
    MAX_EXPONENT,
    MAX_EXPRESSION_CHARS,
    MAX_RESULT_DIGITS,
    ArithmeticClaim,
    ExpressionError,
    check_arithmetic,
    safe_eval,
)
from smartroute_graph.quality.scoring.penalties import PENALTY_CODES, Penalty, PenaltyCode
from smartroute_graph.quality.scoring.rubric import DIMENSIONS, DOMAIN_WEIGHTS, Dimension
from smartroute_graph.quality.scoring.scorer import (
    GOOD_THRESHOLD,
    SCORER_VERSION,
    WEAK_THRESHOLD,
    ResponseScore,
    ResponseScorer,
    score_response,
)

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
