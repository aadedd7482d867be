"""Keyword and shape heuristics: the dependency-free classifier and raw-prompt auto-labeller.

Each domain collects evidence from weighted patterns (keywords, code fences, formulas,
question forms); a softmax turns the evidence into probabilities. Complexity evidence comes
from length, structure ("step by step", numbered constraints, long pasted code or text) and
domain-specific markers of depth (proofs, system design, differential diagnosis…), read per
domain so that the same prompt can be simple chat and moderate knowledge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.classifiers.cache import DecisionCache
from smartroute_graph.core.taxonomy import DOMAINS, Domain

__all__ = ["RulesClassifier"]

# (pattern, weight, whether it reads the lower-cased text)
_Pattern = tuple[re.Pattern[str], float, bool]


def _p(weight: float, *patterns: str) -> list[_Pattern]:
    # A pattern with no upper-case letter in its source (so no \S, \W, [A-D], TypeError, ...)
    # finds the same hits case-sensitively in the lower-cased text as with IGNORECASE in the
    # text, and Python's re runs such keyword alternations 2-4x faster without IGNORECASE.
    return [
        (re.compile(p, re.MULTILINE), weight, True)
        if not any(c.isupper() for c in p)
        else (re.compile(p, re.IGNORECASE | re.MULTILINE), weight, False)
        for p in patterns
    ]


_DOMAIN_PATTERNS: dict[Domain, list[_Pattern]] = {
    "coding": [
        *_p(3.0, r"```", r"^\s*(def|class|import|from \S+ import|#include|public static)\b"),
        *_p(
            2.5,
            r"\b(traceback|stack ?trace|segfault|exception|compile[rd]? error|TypeError|"
            r"ValueError|NullPointer|undefined is not|syntax ?error)\b",
        ),
        *_p(
            2.0,
            r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|kotlin|swift|php|"
            r"ruby|bash|shell script|powershell|sql|regex|regular expression|html|css|react|"
            r"django|flask|node\.?js|docker|kubernetes|k8s|yaml|json schema|git|numpy|"
            r"pandas|matplotlib|pytorch|tensorflow|dataframe|npm|pip install)\b",
        ),
        *_p(
            1.5,
            r"\b(function|method|class|variable|array|list comprehension|loop|recursion|"
            r"api|endpoint|database|query|bug|debug|refactor|unit tests?|compile|deploy|"
            r"script|library|framework|algorithm|code|program|implement)\b",
        ),
        *_p(
            1.5,
            r"[a-z_]+\([^)]*\)\s*[:{;]",
            r"\b(def|fn|func|var|let|const)\s+\w+",
            r"[{};]\s*$",
            r"\w+\.\w+\(",
            r"->|=>|::|!=|==|\+=",
        ),
        *_p(1.0, r"\b(código|función|programa|Funktion|fonction|программ|代码|コード|函数)\w*"),
    ],
    "math": [
        *_p(3.0, r"\\(frac|int|sum|sqrt|lim|cdot|binom)\b", r"\$[^$]+\$"),
        *_p(
            2.5,
            r"\b(solve|equation|integral|derivative|differentiate|integrate|prove that|"
            r"theorem|lemma|probability|expected value|variance|standard deviation|matrix|"
            r"eigen\w*|polynomial|factori[sz]e|prime|modulo|mod \d|logarithm|"
            r"simplify|calculate|compute|how many|how much|percent|%|average|mean|median)\b",
        ),
        # A bare arithmetic expression is the strongest sign of a computation.
        *_p(3.5, r"\d+\s*[-+*/^×÷]\s*\d+"),
        *_p(
            2.0,
            r"\d+\s*=\s*\d+",
            r"\b[xyzn]\s*[\^²³=<>]",
            r"\b\d+(\.\d+)?\s*%",
            r"\$\s?\d+",
            r"\b(sin|cos|tan|log|ln|exp)\s*\(",
        ),
        *_p(
            1.5,
            r"\b(algebra|geometry|calculus|triangle|circle|radius|area|volume|fraction|"
            r"ratio|sequence|series|vector|angle|sum of|product of|divisible|integer|"
            r"dollars|cents|miles|hours|minutes)\b",
        ),
        *_p(
            1.0,
            r"\b(resuelve|ecuación|calcula|berechne|Gleichung|calculez|équation|"
            r"уравнени|计算|方程|計算)\w*",
        ),
    ],
    "reasoning": [
        *_p(
            3.0,
            r"\b(riddle|puzzle|logic puzzle|knights? and knaves?|syllogism|fallacy|"
            r"fallacies|deduce|deduction|which conclusion|must be true|cannot be true|"
            r"paradox)\b",
        ),
        *_p(
            2.0,
            r"\b(if all|all \w+ are|some \w+ are|no \w+ are|liar|truth[- ]teller|"
            r"sits? (next to|between)|left of|right of|taller than|older than|"
            r"schedule|constraints?|trade-?offs?|assumption|argument|premise|infer|"
            r"logically|strategy|plan (a|the|my)|step[- ]by[- ]step plan)\b",
        ),
        *_p(1.0, r"\b(why|therefore|implies|because|decide|which (option|choice) is better)\b"),
    ],
    "creative": [
        *_p(
            3.0,
            # Whole words only: "pun" must not match "punctuation", nor "plot" matplotlib.
            r"\b(poems?|haikus?|sonnets?|limericks?|lyrics|songs?|(short )?stor(y|ies)|"
            r"fables?|fairy ?tales?|screenplay|script for a|jokes?|puns?|slogans?|taglines?|"
            r"roleplay|role-play|pretend (you are|to be)|you are a \w+ (who|that)|"
            r"act as|rap (song|verse|battle)|verses?|fiction|plot twist|"
            r"characters? (arc|development|sketch))\b",
        ),
        *_p(
            2.0,
            r"\b(write|compose|draft|create|invent|imagine|brainstorm|come up with)\b"
            r".{0,40}\b(a|an|some|\d+)\b",
        ),
        *_p(
            2.0,
            r"\b(blog post|product description|ad copy|marketing|catchy|names? for|"
            r"toast|speech|wedding|vows|birthday message|cover letter|creative)\b",
        ),
        *_p(1.0, r"\b(poema|cuento|historia|Gedicht|Geschichte|poème|histoire|стих|诗|物語)\w*"),
    ],
    "knowledge": [
        *_p(
            2.5,
            r"^(what|who|when|where|which|why|how) (is|are|was|were|did|does|do)\b",
            r"\b(explain|describe|what causes|difference between|history of|"
            r"how does .* work|what happened|meaning of|definition of)\b",
        ),
        *_p(
            2.0,
            r"\b(capital of|president|war|century|empire|revolution|species|cell|"
            r"molecule|atom|planet|gravity|photosynthesis|vaccine|disease|symptoms?|"
            r"treatment|diagnos\w+|law|legal|court|constitution|economy|inflation|"
            r"philosoph\w+|quantum|evolution|climate|country|language family)\b",
        ),
        *_p(1.5, r"^\s*[A-D][).:]\s+\S", r"\b(which of the following)\b"),
    ],
    "text": [
        *_p(
            3.5,
            r"\b(summari[sz]e|summary|tl;?dr|paraphrase|rephrase|rewrite|proofread|"
            r"translate|translation|extract|classify the|sentiment|fix the grammar|"
            r"correct the grammar|shorten|condense|bullet points from|key points|"
            r"convert (this|the following) (into|to))\w*\b",
        ),
        *_p(
            2.5,
            r"\b(the following (text|passage|paragraph|email|article|review|document)|"
            r"this (text|passage|paragraph|email|article|review|document)|below:|"
            r"here is (the|my|a) (text|email|paragraph|article))\b",
            r"\[attachment: [^\]]+\((pdf|text)",
        ),
        *_p(
            1.0,
            r"\b(traduce|resume|übersetze|zusammenfassen|traduis|résume|переведи|"
            r"翻译|総括|要約)\w*",
        ),
    ],
    "chat": [
        *_p(
            3.0,
            r"\A\s*(hi|hello|hey|yo|good (morning|evening|afternoon)|thanks|thank you|"
            r"thx|bye|goodbye|how are you|what'?s up|hola|bonjour|hallo|ciao|привет|"
            r"你好|こんにちは)\b",
        ),
        *_p(
            2.0,
            r"\b(i feel|i'm feeling|i am feeling|stressed|lonely|anxious|sad|my "
            r"(boyfriend|girlfriend|wife|husband|boss|friend|mom|dad|parents)|should i|"
            r"any advice|what do you think|your opinion|recommend|who are you|"
            r"what can you do|are you (an? )?(ai|bot|human))\b",
        ),
        *_p(1.0, r"\b(lol|haha|:\)|:\(|pls|plz)\b"),
    ],
}

# Prior evidence: short ambiguous prompts lean to chat, long ones to knowledge.
_DOMAIN_BIAS: dict[Domain, float] = {
    "coding": 0.0,
    "math": 0.0,
    "reasoning": -0.5,
    "creative": 0.0,
    "knowledge": 0.5,
    "text": -0.5,
    "chat": 0.3,
}

_COMPLEX_MARKERS = _p(
    2.5,
    r"\b(prove|proof|rigorous|derive|formal(ly)?|optimi[sz]e|design (a|an) (system|"
    r"architecture|distributed)|architecture|scalab\w+|concurren\w+|race condition|"
    r"deadlock|trade-?offs?|edge cases|comprehensive|in depth|in-depth|nuanc\w+|"
    r"differential diagnosis|case law|precedent|jurisdiction|olympiad|competition|"
    r"step[- ]by[- ]step|multi-?step|several constraints|all constraints|must satisfy|"
    r"complexity analysis|big-?o|from first principles|research)\b",
)
_MODERATE_MARKERS = _p(
    0.8,
    r"\b(explain|why|compare|analy[sz]e|debug|fix|implement|write a (function|class|"
    r"program|script)|detailed|pros and cons|examples?|several|each|also|and then)\b",
)
_SIMPLE_MARKERS = _p(
    1.0,
    r"^\s*(what is|who is|who wrote|when did|define|capital of|hi|hello|thanks|"
    r"translate \"?\w+\"?|quick question)\b",
    r"\b(one word|one sentence|briefly|short|quick|just tell me|simple)\b",
)
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*•])\s+", re.MULTILINE)


def _softmax(scores: dict[str, float], temperature: float) -> dict[str, float]:
    top = max(scores.values())
    exps = {k: math.exp((v - top) / temperature) for k, v in scores.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


def _evidence(patterns: list[_Pattern], text: str, lowered: str) -> float:
    # Each pattern counts once and a second hit adds half: repetition is weak evidence.
    score = 0.0
    for pattern, weight, on_lowered in patterns:
        hits = len(pattern.findall(lowered if on_lowered else text, 0, 4000))
        if hits:
            score += weight * (1.0 + 0.5 * min(hits - 1, 2))
    return score


class _Shape(NamedTuple):
    """The complexity evidence that does not depend on the domain (gathered once a text)."""

    complex_ev: float
    moderate_ev: float
    simple_ev: float
    items: int
    newlines: int
    fenced: bool


# Length in words, on a log scale, centred per domain: a 60-word chat message is ordinary, a
# 60-word math problem is a multi-step one.
_LENGTH_CENTRE: dict[str, int] = {
    "chat": 40,
    "creative": 30,
    "text": 150,
    "knowledge": 20,
    "coding": 30,
    "math": 25,
    "reasoning": 40,
}


class RulesClassifier:
    """Heuristic hierarchical classifier; no dependencies, microseconds per query."""

    name = "rules"

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: DecisionCache[Classification] = DecisionCache(cache_size)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify each text; repeated texts are answered from an LRU cache."""
        return [self._classify_one(t) for t in texts]

    def _classify_one(self, text: str) -> Classification:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._classify_uncached(text)
            self._cache.put(text, hit)
        return hit

    def _classify_uncached(self, text: str) -> Classification:
        lowered = text.lower()
        domain_scores: dict[str, float] = {
            d: _evidence(_DOMAIN_PATTERNS[d], text, lowered) + _DOMAIN_BIAS[d] for d in DOMAINS
        }
        words = len(text.split())
        if words <= 4 and max(domain_scores.values()) < 2.0:
            domain_scores["chat"] += 1.5
        domain_probs = _softmax(domain_scores, temperature=1.5)
        shape = _Shape(
            complex_ev=_evidence(_COMPLEX_MARKERS, text, lowered),
            moderate_ev=_evidence(_MODERATE_MARKERS, text, lowered),
            simple_ev=_evidence(_SIMPLE_MARKERS, text, lowered),
            items=len(_LIST_ITEM.findall(text)),
            newlines=text.count("\n"),
            fenced="```" in text,
        )
        by_domain: dict[str, dict[str, float]] = {
            d: self._complexity(shape, words, d) for d in DOMAINS
        }
        return Classification.from_probs(domain_probs, by_domain, backend=self.name)

    def _complexity(self, shape: _Shape, words: int, domain: Domain) -> dict[str, float]:
        code_lines = shape.newlines if shape.fenced or domain == "coding" else 0
        length = math.log((words + 5) / _LENGTH_CENTRE[domain])
        structure = 0.25 * min(shape.items, 8) + 0.02 * min(code_lines, 100)

        depth = 1.0 if domain in ("math", "reasoning", "coding") else 0.7
        complex_score = depth * shape.complex_ev + 0.8 * length + structure - 1.0
        moderate_score = shape.moderate_ev + 0.4 * length + 0.5 * structure
        simple_score = shape.simple_ev - 0.5 * length + (0.8 if domain == "chat" else 0.0)
        return _softmax(
            {"simple": simple_score, "moderate": moderate_score, "complex": complex_score},
            temperature=1.2,
        )
