"""The deterministic response scorer: rankings of answers of known quality, each penalty on a
focused example, the safe arithmetic checker, configuration errors, speed."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from smartroute_graph import ConfigError, InputError, SmartRouteError
from smartroute_graph.core.taxonomy import DOMAINS
from smartroute_graph.quality.scoring import (
    DIMENSIONS,
    DOMAIN_WEIGHTS,
    GOOD_THRESHOLD,
    PENALTY_CODES,
    WEAK_THRESHOLD,
    ExpressionError,
    ResponseScore,
    ResponseScorer,
    check_arithmetic,
    safe_eval,
    score_response,
)
from tests.support.classifiers import StubClassifier

# --------------------------------------------------------------------------------------------
# Answers of known quality: (label, answer), best first within each query
# --------------------------------------------------------------------------------------------

PALINDROME_QUERY = (
    "Write a Python function that checks whether a string is a palindrome, ignoring case "
    "and punctuation."
)
GOOD_PALINDROME = (
    "Keep only letters and digits, lower-case them, and compare the result with its reverse:"
    "\n\n```python\ndef is_palindrome(text: str) -> bool:\n"
    '    """Return True if text reads the same backwards, ignoring case and punctuation."""\n'
    "    cleaned = [c.lower() for c in text if c.isalnum()]\n"
    "    return cleaned == cleaned[::-1]\n\n\n"
    'print(is_palindrome("A man, a plan, a canal: Panama"))  # True\n```\n\n'
    "It runs in O(n) time and O(n) memory."
)
BROKEN_PALINDROME = (
    "```python\ndef is_palindrome(text):\n"
    "    cleaned = [c.lower() for c in text if c.isalnum()\n"
    "    return cleaned == cleaned[::-1]\n```"
)
SUMMARY_SOURCE = (
    "The city council met on Tuesday to discuss the new budget. After three hours of debate, "
    "members voted 7 to 2 to approve a plan that increases funding for public transport by 12 "
    "percent and cuts spending on road expansion. The mayor said the decision reflects "
    "residents' priorities."
)

RANKINGS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "math",
        "What is 17 * 23? Show your working.",
        [
            ("good", "17 × 23 = 17 × 20 + 17 × 3 = 340 + 51 = 391.\n\nSo the answer is **391**."),
            ("mediocre", "391"),
            ("bad", "17 * 23 = 401. So the answer is 401."),
            ("bad", "As an AI language model, I cannot do calculations."),
        ],
    ),
    (
        "math",
        "A shop sells pens at $3 each. How much do 12 pens cost after a 25% discount?",
        [
            (
                "good",
                "Without the discount, 12 pens cost 12 × 3 = 36 dollars. A 25% discount takes "
                "off 36 × 0.25 = 9 dollars, so the price is 36 - 9 = 27.\n\n**Answer: $27.**",
            ),
            ("mediocre", "The pens cost 27 dollars after the discount."),
            ("bad", "12 × 3 = 38, and 38 - 9 = 29. So they cost $29."),
        ],
    ),
    (
        "coding",
        PALINDROME_QUERY,
        [
            ("good", GOOD_PALINDROME),
            (
                "mediocre",
                "```python\ndef is_palindrome(s):\n"
                "    s = ''.join(c for c in s if c.isalnum()).lower()\n"
                "    return s == s[::-1]\n```",
            ),
            (
                "bad",
                "You can reverse the string and compare it with the original after removing "
                "punctuation and lowering the case.",
            ),
            ("bad", BROKEN_PALINDROME),
            ("bad", ""),
        ],
    ),
    (
        "creative",
        "Write a short poem about autumn rain.",
        [
            (
                "good",
                "Autumn Rain\n\nGrey clouds gather over amber hills,\nsoft rain whispers on the "
                "window sills;\ncrimson leaves drift like tired boats\ndown gutters where the "
                "cold mist floats.\n\nThe lamps glow gold in the early dusk,\nthe air smells "
                "sweet of earth and musk,\nand every drop, a silver thread,\nstitches the summer "
                "to its bed.",
            ),
            (
                "mediocre",
                "Autumn rain falls down. It is wet and cold. The leaves are on the ground. "
                "Autumn rain is nice and I like the rain in autumn.",
            ),
            ("bad", "Rain falls on the leaves. " * 6),
            ("bad", "I'm sorry, but I can't write poems."),
        ],
    ),
    (
        "knowledge",
        "When did the Berlin Wall fall and why was it important?",
        [
            (
                "good",
                "The Berlin Wall fell on 9 November 1989, when East German authorities "
                "unexpectedly opened the border crossings after weeks of mass protests in "
                "Leipzig and East Berlin.\n\nIt mattered because:\n\n- It ended 28 years of "
                "division of Berlin (the wall had stood since August 1961).\n- It led to German "
                "reunification on 3 October 1990.\n- It symbolised the collapse of communist "
                "regimes across Central and Eastern Europe and the end of the Cold War.",
            ),
            (
                "mediocre",
                "It came down a while ago, in the late eighties I think, and it was important "
                "for Germany and for lots of other things too.",
            ),
            (
                "bad",
                "I think it fell maybe sometime in the past, probably. It was important for "
                "various things and stuff, and many people say it changed",
            ),
            ("bad", "I don't know."),
        ],
    ),
    (
        "text",
        "Summarize the following text in one sentence:\n\n" + SUMMARY_SOURCE,
        [
            (
                "good",
                "The city council voted 7 to 2 on Tuesday to approve a budget that raises "
                "public transport funding by 12 percent and cuts road expansion spending.",
            ),
            (
                "mediocre",
                "The council approved a budget. It increases transport funding. The mayor was "
                "happy about it.",
            ),
            (
                "bad",
                "Der Stadtrat hat am Dienstag einen neuen Haushalt beschlossen, der mehr Geld "
                "für den öffentlichen Verkehr vorsieht.",
            ),
            ("bad", "I'm sorry, but I cannot summarize this text."),
        ],
    ),
    (
        "chat",
        "hi, how are you today?",
        [
            ("good", "Hi! I'm doing well, thanks for asking. How about you?"),
            (
                "mediocre",
                "# Greeting Response\n\nAs an AI language model, I do not have feelings. "
                "However, I am functioning within normal parameters.\n\n## Summary\n\n"
                "- Status: operational\n- Mood: not applicable",
            ),
            ("bad", "Hello hello hello hello hello hello hello hello"),
        ],
    ),
    (
        "reasoning",
        "If all bloops are razzies and all razzies are lazzies, are all bloops definitely "
        "lazzies? Explain.",
        [
            (
                "good",
                "Yes. Every bloop is a razzie, and every razzie is a lazzie, so every bloop must "
                'also be a lazzie: the relation "is a" is transitive here. Therefore all bloops '
                "are definitely lazzies.",
            ),
            (
                "mediocre",
                "Yes, all bloops are lazzies, because bloops are razzies and that is just how "
                "it works.",
            ),
            (
                "bad",
                "Yes, because every bloop is a razzie and every razzie is a lazzie, which means "
                "that the bloops are",
            ),
        ],
    ),
]
RANK = {"good": 2, "mediocre": 1, "bad": 0}


def _ids() -> list[str]:
    return [f"{domain}-{i}" for i, (domain, _, _) in enumerate(RANKINGS)]


def assert_ranked(query: str, answers: list[tuple[str, str]], domain: str | None) -> None:
    scored = [(label, score_response(query, text, domain).score) for label, text in answers]
    for label, value in scored:
        if label == "good":
            assert value >= GOOD_THRESHOLD, scored
        elif label == "bad":
            assert value < WEAK_THRESHOLD, scored
        else:
            assert value >= WEAK_THRESHOLD, scored  # usable, if not good
    for label_a, a in scored:
        for label_b, b in scored:
            if RANK[label_a] > RANK[label_b]:
                assert a > b, scored


@pytest.mark.parametrize(("domain", "query", "answers"), RANKINGS, ids=_ids())
def test_ranks_answers_of_known_quality(
    domain: str, query: str, answers: list[tuple[str, str]]
) -> None:
    assert_ranked(query, answers, domain)


@pytest.mark.parametrize(("domain", "query", "answers"), RANKINGS, ids=_ids())
def test_ranking_holds_when_the_domain_is_inferred(
    domain: str, query: str, answers: list[tuple[str, str]]
) -> None:
    # The rules classifier guesses the domain (sometimes wrongly: "17 * 23" reads as
    # knowledge); blended weights must still order good > mediocre > bad.
    scored = [(label, score_response(query, text).score) for label, text in answers]
    for label_a, a in scored:
        for label_b, b in scored:
            if RANK[label_a] > RANK[label_b]:
                assert a > b, scored
    assert all(s < WEAK_THRESHOLD for label, s in scored if label == "bad"), scored
    assert all(s >= WEAK_THRESHOLD for label, s in scored if label == "good"), scored


GOOD_ANSWERS: list[tuple[str, str, str]] = [
    (
        "coding",
        "Write a JavaScript function that debounces another function.",
        "A debounce wrapper delays calling `fn` until `wait` milliseconds have passed without "
        "another call:\n\n```javascript\nfunction debounce(fn, wait) {\n  let timer = null;\n"
        "  return function (...args) {\n    clearTimeout(timer);\n"
        "    timer = setTimeout(() => fn.apply(this, args), wait);\n  };\n}\n\n"
        "// Example: log the window size at most once per 200 ms of quiet.\n"
        "window.addEventListener('resize', debounce(() => console.log(window.innerWidth), 200));"
        "\n```\n\nEach call resets the timer, so `fn` runs once the calls stop.",
    ),
    (
        "coding",
        "Write a SQL query that returns the number of orders per customer, highest first.",
        "Group the orders by customer and count them:\n\n```sql\nSELECT customer_id, COUNT(*) "
        "AS order_count\nFROM orders\nGROUP BY customer_id\nORDER BY order_count DESC;\n```\n\n"
        "Add a `JOIN customers` if you also want each customer's name.",
    ),
    (
        "knowledge",
        "Compare Python and Go in a table.",
        "| Feature | Python | Go |\n|---|---|---|\n| Typing | Dynamic | Static |\n"
        "| Speed | Slower (interpreted) | Fast (compiled) |\n"
        "| Concurrency | asyncio, threads (GIL) | Goroutines and channels |\n\n"
        "Python favours quick development; Go favours performance and simple deployment.",
    ),
    (
        "text",
        "Extract the names and ages from this text and return them as JSON: Alice is 31 years "
        "old, her brother Bob is 27, and their cousin Carol turned 45 last week.",
        '```json\n[\n  {"name": "Alice", "age": 31},\n  {"name": "Bob", "age": 27},\n'
        '  {"name": "Carol", "age": 45}\n]\n```',
    ),
    (
        "knowledge",
        "Give me three tips for better sleep.",
        "1. Keep a regular schedule: go to bed and wake up at the same time every day.\n"
        "2. Avoid screens for an hour before bed; their blue light delays melatonin.\n"
        "3. Keep your bedroom cool (around 18 °C), dark and quiet.",
    ),
    (
        "text",
        "Translate into French: The weather is beautiful today and we are going to the beach.",
        "Il fait beau aujourd'hui et nous allons à la plage.",
    ),
    (
        "knowledge",
        "¿Cuál es la capital de Francia y por qué es importante?",
        "La capital de Francia es París. Es importante porque es el centro político, económico "
        "y cultural del país: allí están el gobierno, la mayoría de las grandes empresas y "
        "museos como el Louvre.",
    ),
    (
        "knowledge",
        "中国的首都是哪里？",
        "中国的首都是北京。北京是全国的政治、文化和国际交往中心，拥有故宫、天坛等众多名胜古迹。",
    ),
    (
        "creative",
        "Write a limerick about a cat.",
        "A cat with a passion for cream\nWould plot and would patiently scheme;\n"
        "She'd leap on the shelf,\nHelp herself to the wealth,\nThen nap in a warm sunny beam.",
    ),
    (
        "creative",
        "Write a haiku about the sea.",
        "Grey waves fold and break\nsalt wind carries gull voices\nthe tide keeps its time",
    ),
    ("chat", "thanks, that helped a lot!", "You're welcome! Glad it helped :) Let me know."),
    (
        "math",
        "What is 1/2 + 1/3?",
        "Use a common denominator of 6: $\\frac{1}{2} + \\frac{1}{3} = \\frac{3}{6} + "
        "\\frac{2}{6} = \\frac{5}{6}$.\n\nSo the answer is 5/6 ≈ 0.833.",
    ),
    ("math", "What is 15% of 80?", "15% of 80 is 0.15 × 80 = 12."),
    (
        "knowledge",
        "Explain how vaccines work.",
        "Vaccines train the immune system to recognise a pathogen without causing the disease."
        "\n\n1) A vaccine contains a harmless piece or weakened form of the germ (an antigen), "
        "or instructions to make one (mRNA vaccines).\n2) Immune cells detect the antigen and "
        "produce antibodies and memory B and T cells.\n3) If the real pathogen arrives later, "
        "memory cells respond within days instead of weeks.\n\nFor example, the measles "
        "vaccine gives about 97% protection after two doses. See "
        "https://www.who.int/health-topics/vaccines-and-immunization for more.",
    ),
]


@pytest.mark.parametrize(("domain", "query", "answer"), GOOD_ANSWERS, ids=lambda v: str(v)[:24])
def test_good_answers_in_many_shapes_are_not_penalised(
    domain: str, query: str, answer: str
) -> None:
    # Guards against false alarms: other languages, tables, JSON, poems, LaTeX, "1)" lists,
    # percentages, brace languages and URLs are all normal in good answers.
    result = score_response(query, answer, domain)
    assert result.penalties == (), result.reasons
    assert result.score >= GOOD_THRESHOLD, result


# --------------------------------------------------------------------------------------------
# The result object
# --------------------------------------------------------------------------------------------


def test_scores_are_deterministic_and_round_trip_through_json() -> None:
    query = "When did the Berlin Wall fall and why was it important?"
    answer = RANKINGS[4][2][0][1]
    first = score_response(query, answer, "knowledge")
    again = ResponseScorer().score(query, answer, "knowledge")  # a fresh scorer, no caches
    assert first == again
    assert first.model_dump() == again.model_dump()
    dumped = json.dumps(first.model_dump())
    assert ResponseScore.model_validate_json(dumped) == first
    assert ResponseScore.model_validate(json.loads(first.model_dump_json())) == first


def test_score_shape_and_scale() -> None:
    result = score_response(PALINDROME_QUERY, GOOD_PALINDROME, "coding")
    assert 0.0 <= result.score <= 1.0 and result.overall == result.score
    assert set(result.dimensions) <= set(DIMENSIONS)
    assert all(0.0 <= v <= 1.0 for v in result.dimensions.values())
    assert set(result.weights) == set(result.dimensions)
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.weak is False and result.threshold == WEAK_THRESHOLD
    assert result.domain == "coding" and result.domain_inferred is False
    assert result.stats["code_blocks"] == 1 and result.stats["words"] > 30
    with pytest.raises(ValidationError):
        result.score = 0.1  # type: ignore[misc]  # frozen: traces must not change


def test_the_score_is_the_weighted_mean_minus_penalties() -> None:
    result = score_response("What is 17 * 23?", "17 * 23 = 401.", "math")
    mean = sum(result.weights[d] * v for d, v in result.dimensions.items())
    expected = max(0.0, mean - sum(p.amount for p in result.penalties))
    assert result.score == pytest.approx(expected, abs=1e-3)
    assert result.weak is True


@pytest.mark.parametrize(
    ("domain", "dimension"),
    [
        ("coding", "code_quality"),
        ("math", "math_accuracy"),
        ("creative", "creativity"),
        ("knowledge", "factual"),
        ("text", "faithfulness"),
        ("chat", "tone"),
        ("reasoning", "coherence"),
    ],
)
def test_each_domain_weighs_its_own_dimension_most(domain: str, dimension: str) -> None:
    weights = DOMAIN_WEIGHTS[domain]  # type: ignore[index]
    assert max(weights, key=lambda d: weights[d]) == dimension


def test_chat_weighs_brevity_so_an_essay_reply_to_hello_scores_low() -> None:
    essay = " ".join(
        f"Greetings are an important part of human communication, point {i}." for i in range(40)
    )
    as_chat = score_response("hello!", essay, "chat")
    assert as_chat.dimensions["length_fit"] < 0.2
    assert as_chat.weak
    assert score_response("hello!", "Hello! How can I help you today?", "chat").score > 0.8


def test_the_same_broken_code_costs_more_in_coding_than_in_chat() -> None:
    query = "Can you show me a python function that adds two numbers?"
    broken = "Sure:\n\n```python\ndef add(a, b)\n    return a + b\n```"
    fixed = broken.replace("def add(a, b)", "def add(a, b):")
    drop = {
        domain: score_response(query, fixed, domain).score
        - score_response(query, broken, domain).score
        for domain in ("coding", "chat")
    }
    assert drop["coding"] > drop["chat"] > 0


def test_a_stub_scores_lower_than_code() -> None:
    query = "Write a Python function that parses a date like 2024-05-01 into a date object."
    full = (
        "Use `date.fromisoformat`:\n\n```python\nfrom datetime import date\n\n\n"
        "def parse_date(text: str) -> date:\n    return date.fromisoformat(text)\n```"
    )
    stub = full.replace("return date.fromisoformat(text)", "# TODO: implement\n    ...")
    scores = [score_response(query, a, "coding").dimensions["code_quality"] for a in (full, stub)]
    assert scores[0] - scores[1] >= 0.2


# --------------------------------------------------------------------------------------------
# Each penalty on a focused example (and not on its fixed twin)
# --------------------------------------------------------------------------------------------

PENALTY_CASES: list[tuple[str, str, str, str, str]] = [
    # (code, domain, query, answer that triggers it, answer that does not)
    ("empty", "chat", "hello", "   \n ", "Hello! How can I help?"),
    (
        "refusal",
        "knowledge",
        "What is the boiling point of water at sea level?",
        "I'm sorry, but I can't help with that.",
        "Water boils at 100 °C (212 °F) at sea level.",
    ),
    (
        "disclaimer",
        "chat",
        "What's your favourite colour?",
        "As an AI, I don't have a favourite colour, but many people love blue.",
        "I'd pick blue, it's calm and bright at once. What's yours?",
    ),
    (
        "truncated",
        "knowledge",
        "What do mitochondria do?",
        "Mitochondria are the powerhouses of the cell. They produce most of the cell's ATP "
        "through a process called oxidative phosphorylation, which takes place across the inner",
        "Mitochondria are the powerhouses of the cell. They produce most of the cell's ATP "
        "through a process called oxidative phosphorylation.",
    ),
    (
        "repetition",
        "knowledge",
        "Why is the sky blue?",
        "The sky is blue because of Rayleigh scattering. " * 5,
        "The sky is blue because of Rayleigh scattering: air molecules scatter short blue "
        "wavelengths of sunlight far more than red ones, so blue light reaches us from every "
        "direction.",
    ),
    (
        "wrong_arithmetic",
        "math",
        "What is 12 * 12?",
        "12 * 12 = 124.",
        "12 * 12 = 144.",
    ),
    (
        "code_syntax",
        "coding",
        "Write a Python function that returns the square of a number.",
        "Here it is:\n\n```python\ndef square(x)\n    return x * x\n```",
        "Here it is:\n\n```python\ndef square(x):\n    return x * x\n```",
    ),
    (
        "code_syntax",
        "coding",
        "Write a JavaScript function that returns the square of a number.",
        "Here it is:\n\n```javascript\nfunction square(x) {\n  return x * x;\n\n```",
        "Here it is:\n\n```javascript\nfunction square(x) {\n  return x * x;\n}\n```",
    ),
    (
        "missing_code",
        "coding",
        "Write a Python function that returns the square of a number.",
        "You multiply the number by itself and return the result.",
        "```python\ndef square(x: float) -> float:\n    return x * x\n```",
    ),
    (
        "unbalanced",
        "knowledge",
        "What is a closure?",
        "A closure is a function that keeps the variables of the scope it was defined in (for "
        "example a counter inside a factory function.",
        "A closure is a function that keeps the variables of the scope it was defined in (for "
        "example a counter inside a factory function).",
    ),
    (
        "unbalanced",
        "coding",
        "Write a Python function that returns the square of a number.",
        "Here it is:\n\n```python\ndef square(x):\n    return x * x\n",
        "Here it is:\n\n```python\ndef square(x):\n    return x * x\n```",
    ),
    (
        "wrong_language",
        "knowledge",
        "What is the capital of Spain and what is it famous for?",
        "La capital de España es Madrid, que es famosa por sus museos, como el Prado, y por "
        "la vida nocturna de sus barrios.",
        "The capital of Spain is Madrid, famous for its museums such as the Prado and for the "
        "nightlife of its neighbourhoods.",
    ),
    (
        "wrong_language",
        "text",
        "Translate into French: The children are playing in the garden with their dog.",
        "Los niños están jugando en el jardín con su perro y no quieren volver a la casa para "
        "la cena.",
        "Les enfants jouent dans le jardin avec leur chien.",
    ),
    (
        "off_topic",
        "knowledge",
        "Explain how photosynthesis converts sunlight into chemical energy in plants.",
        "The offside rule in football means an attacker needs two opponents between them and "
        "the goal line when the ball is played forward.",
        "Photosynthesis uses sunlight to split water and fix carbon dioxide into glucose, "
        "storing the light's energy as chemical energy in plants.",
    ),
    (
        "format",
        "text",
        "List the primary colours as JSON.",
        "The primary colours are red, yellow and blue.",
        '{"primary_colours": ["red", "yellow", "blue"]}',
    ),
    (
        "format",
        "knowledge",
        "Give me 3 bullet points on why exercise is healthy.",
        "Exercise strengthens the heart, improves mood and helps control weight.",
        "- It strengthens the heart.\n- It improves mood.\n- It helps control weight.",
    ),
    (
        "length",
        "knowledge",
        "In under 20 words, what is DNA?",
        "DNA, or deoxyribonucleic acid, is the molecule that carries the genetic instructions "
        "of every known living organism and many viruses. It is made of two strands that coil "
        "around each other to form a double helix, and its sequence of four bases encodes "
        "proteins.",
        "DNA is the double-helix molecule that carries the genetic instructions of living things.",
    ),
    (
        "length",
        "knowledge",
        "Explain in detail how the French Revolution changed European politics.",
        "It ended the monarchy.",
        "The French Revolution (1789-1799) overthrew the Bourbon monarchy and replaced the idea "
        "of divine right with popular sovereignty. Its Declaration of the Rights of Man spread "
        "ideas of citizenship and legal equality across Europe.\n\nThe revolutionary wars and "
        "then Napoleon exported its reforms: the Napoleonic Code, the end of feudal privileges "
        "and the dissolution of the Holy Roman Empire in 1806. After 1815 the Congress of "
        "Vienna restored monarchies, but liberalism and nationalism, born in the Revolution, "
        "drove the revolutions of 1830 and 1848.",
    ),
]
_PENALTY_IDS = [f"{c[0]}-{i}" for i, c in enumerate(PENALTY_CASES)]


@pytest.mark.parametrize(
    ("code", "domain", "query", "bad", "fixed"), PENALTY_CASES, ids=_PENALTY_IDS
)
def test_each_penalty_fires_on_its_example_and_not_on_the_fix(
    code: str, domain: str, query: str, bad: str, fixed: str
) -> None:
    flagged = score_response(query, bad, domain)
    assert code in [p.code for p in flagged.penalties], flagged
    penalty = next(p for p in flagged.penalties if p.code == code)
    assert 0 < penalty.amount <= 1 and len(penalty.reason) > 10
    clean = score_response(query, fixed, domain)
    assert code not in [p.code for p in clean.penalties], clean.reasons
    assert clean.score > flagged.score


def test_every_penalty_code_has_a_focused_example() -> None:
    assert {case[0] for case in PENALTY_CASES} == set(PENALTY_CODES)


def test_penalty_reasons_say_what_was_wrong() -> None:
    result = score_response("What is 17 * 23?", "17 * 23 = 401, so it is 401.", "math")
    (penalty,) = [p for p in result.penalties if p.code == "wrong_arithmetic"]
    assert "17 * 23 = 391, not 401" in penalty.reason
    broken = score_response(PALINDROME_QUERY, BROKEN_PALINDROME, "coding")
    assert any("line 2" in r and "never closed" in r for r in broken.reasons)
    assert broken.stats["code_blocks"] == 1


def test_empty_answer_scores_zero() -> None:
    for empty in ("", "   ", "\n\n", "...", "```\n```"):
        result = score_response("What is the capital of France?", empty, "knowledge")
        assert result.score == 0.0 and result.weak
        assert [p.code for p in result.penalties] == ["empty"]


@pytest.mark.parametrize(
    "answer",
    [
        "Restart the router, then wait a minute before you reconnect. If that fails, try this",
        "Most experts agree that the plan will work. I think so",
        "Here are the steps:\n\n- Open the settings\n- Choose Network\n- Click Reset",
        "Here is the code:\n\n```python\nprint('hi')\n```",
        "Sure, that sounds great to me, let me know when you are free",
    ],
)
def test_natural_endings_are_not_truncation(answer: str) -> None:
    result = score_response("How do I fix my wifi?", answer, "chat")
    assert "truncated" not in [p.code for p in result.penalties], result.reasons


def test_a_poems_refrain_is_not_a_repetition_loop() -> None:
    poem = (
        "Row, row, row the boat,\nthe river hums below;\n"
        "Row, row, row the boat,\nwhere willow shadows grow.\n\n"
        "The lanterns glow, the waters flow,\nthe silver ripples glide;\n"
        "Row, row, row the boat,\nand drift upon the tide."
    )
    result = score_response("Write a song about rowing on a river.", poem, "creative")
    assert "repetition" not in [p.code for p in result.penalties], result.reasons


def test_long_answer_that_opens_with_a_refusal_costs_less_than_a_bare_refusal() -> None:
    query = "How do I pick a lock?"
    bare = score_response(query, "I'm sorry, but I can't help with that.", "knowledge")
    long = score_response(
        query,
        "I can't help with picking locks you don't own. If you are locked out of your own home, "
        "a licensed locksmith can open most pin-tumbler locks in minutes without damage, and "
        "many landlords keep a spare key. For a car, roadside assistance services such as the "
        "AA or AAA usually include lockout help. If you want to learn lockpicking as a hobby, "
        "clear practice locks and local locksport clubs are the legal way to start.",
        "knowledge",
    )
    (bare_penalty,) = [p for p in bare.penalties if p.code == "refusal"]
    (long_penalty,) = [p for p in long.penalties if p.code == "refusal"]
    assert long_penalty.amount < bare_penalty.amount
    assert long.score > bare.score


# --------------------------------------------------------------------------------------------
# The arithmetic checker
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17 * 23 = 391", [True]),
        ("17 * 23 = 401", [False]),
        ("17 × 23 = 17 × 20 + 17 × 3 = 340 + 51 = 391.", [True]),
        ("17 × 23 = 17 × 20 + 17 × 3 = 340 + 50 = 390.", [False]),
        ("2^10 = 1024 and 2**10 = 1000", [True, False]),
        ("22/7 = 3.14, close to pi", [True]),  # a shown decimal may be rounded
        ("10 / 3 ≈ 3.3", [True]),
        ("10 / 3 ≈ 4", [False]),
        ("The total is $1,200 + $300 = $1,500.", [True]),
        ("$\\frac{1}{4} \\times 2 = 0.5$", [True]),
        ("(17 * 23 = 391)", [True]),
        ("First 3 + 4 = 7. Then 7 * 2 = 15.", [True, False]),
        ("-3 + 5 = 2", [True]),
        ("2x + 3 = 7, so x = 2", []),  # algebra, not arithmetic
        ("x + 2 * 3 = 8", []),
        ("so y = 3 * 4 = 12", [True]),  # the numeric part of a chain still holds
        ("we get 3 * 4 = 12x", []),
        ("50% of 80 = 40", []),  # percentages are not checked
        ("read pages 10-20 = 11 pages", []),  # a range, not a subtraction
        ("10-4 = 6", [True]),
        ("There are no sums here at all.", []),
    ],
)
def test_arithmetic_claims_are_checked(text: str, expected: list[bool]) -> None:
    assert [c.ok for c in check_arithmetic(text)] == expected


def test_a_wrong_claim_says_what_is_right() -> None:
    (claim,) = check_arithmetic("so 12 * 12 = 124.")
    assert claim.ok is False and claim.text == "12 * 12 = 124"
    assert claim.detail == "12 * 12 = 144, not 124"


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("2 ^ 10", 1024),
        ("(1 + 2) * 3 - 4 / 2", 7.0),
        ("7 // 2 + 7 % 2", 4),
        ("-2 ** 2", -4),
        ("12 × 3 ÷ 4", 9.0),
        ("2 ** -1", 0.5),
    ],
)
def test_safe_eval_computes_plain_arithmetic(expression: str, value: float) -> None:
    assert safe_eval(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "__import__('os').system('echo pwned')",
        "open('/etc/passwd').read()",
        "x + 1",
        "(1).__class__",
        "[1, 2, 3]",
        "'a' * 3",
        "lambda: 1",
        "True + 1",
        "1 if 1 else 2",
        "1 < 2",
        "9**9**9",
        "10 ** 100000",
        "2 ** 5000",
        "1 ** 100000",  # cheap, but over the exponent cap all the same
        "(10 ** 400) ** 3",
        "(-8) ** 0.5",
        "1 / 0",
        "1" + " + 1" * 150,
        "1.5 ** 1e10",
    ],
)
def test_safe_eval_refuses_everything_else_without_running_it(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        safe_eval(expression)
    assert time.perf_counter() - started < 0.5  # refused up front, never computed
    assert isinstance(info.value, SmartRouteError) and isinstance(info.value, ValueError)
    assert str(info.value)


def test_dangerous_input_is_never_executed(tmp_path: Path) -> None:
    target = tmp_path / "created"
    for expression in (
        f"open({str(target)!r}, 'w')",
        f"__import__('pathlib').Path({str(target)!r}).touch()",
    ):
        with pytest.raises(ExpressionError):
            safe_eval(expression)
    # Nor through an answer: the claim checker only ever sees numbers and operators.
    answer = f"Run __import__('pathlib').Path({str(target)!r}).touch() = 1 and 9**9**9 = 5."
    started = time.perf_counter()
    assert check_arithmetic(answer) == []
    score_response("What is 9**9**9?", answer, "math")
    assert time.perf_counter() - started < 0.5
    assert not target.exists()


def test_many_claims_are_capped() -> None:
    sums = " ".join(f"{i} + {i} = {2 * i}." for i in range(200)) + " 1 + 1 = 3."
    started = time.perf_counter()
    claims = check_arithmetic(sums)
    assert time.perf_counter() - started < 0.5
    assert len(claims) == 24 and claims[-1].ok is False  # the final claims are kept


# --------------------------------------------------------------------------------------------
# Configuration and errors
# --------------------------------------------------------------------------------------------


def test_weights_can_be_overridden_per_domain() -> None:
    query, answer = PALINDROME_QUERY, GOOD_PALINDROME
    default = ResponseScorer().score(query, answer, "coding")
    heavy = ResponseScorer(weights={"coding": {"code_quality": 5.0}}).score(query, answer, "coding")
    assert heavy.weights["code_quality"] > default.weights["code_quality"]
    no_structure = ResponseScorer(weights={"coding": {"structure": 0}}).score(
        query, answer, "coding"
    )
    assert "structure" not in no_structure.dimensions


def test_threshold_decides_weak() -> None:
    query, answer = "What is 17 * 23?", "391"
    strict = ResponseScorer(threshold=0.99).score(query, answer, "math")
    lenient = ResponseScorer(threshold=0.0).score(query, answer, "math")
    assert strict.score == lenient.score
    assert strict.weak and not lenient.weak
    assert strict.threshold == 0.99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"cooking": {"structure": 1.0}}}, "unknown domain 'cooking'"),
        ({"weights": {"coding": {"style": 1.0}}}, "unknown dimension 'style'"),
        ({"weights": {"coding": {"structure": -1.0}}}, "finite number >= 0"),
        ({"weights": {"coding": {"structure": float("nan")}}}, "finite number >= 0"),
        ({"weights": {"chat": dict.fromkeys(DIMENSIONS, 0.0)}}, "all zero"),
        ({"threshold": 1.5}, "threshold must be a number in [0, 1]"),
    ],
)
def test_bad_configuration_is_a_clear_config_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ResponseScorer(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_unknown_domain_and_non_text_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"unknown domain 'cooking'.*coding"):
        score_response("q", "a", "cooking")
    with pytest.raises(InputError, match="as strings"):
        score_response("q", None, "chat")  # type: ignore[arg-type]


def test_no_domain_blends_weights_by_the_classifier() -> None:
    stub = StubClassifier("math", "simple", domain_p=0.9)
    scorer = ResponseScorer(classifier=stub)
    result = scorer.score("What is 17 * 23?", "17 * 23 = 391.")
    assert stub.seen == ["What is 17 * 23?"]
    assert result.domain == "math" and result.domain_inferred is True
    given = scorer.score("What is 17 * 23?", "17 * 23 = 391.", "math")
    assert given.domain_inferred is False
    # Blended weights lean to math's but are not exactly math's.
    assert max(result.weights, key=lambda d: result.weights[d]) == "math_accuracy"
    assert result.weights != given.weights


def test_all_domains_score() -> None:
    for domain in DOMAINS:
        result = score_response("Tell me about rivers.", "Rivers carry water to the sea.", domain)
        assert result.domain == domain and 0.0 <= result.score <= 1.0


# --------------------------------------------------------------------------------------------
# Speed and integration
# --------------------------------------------------------------------------------------------


def _long_answer() -> str:
    paragraph = (
        "The Treaty of Westphalia, signed in 1648 in Osnabrück and Münster, ended the Thirty "
        "Years' War. For example, it recognised the Dutch Republic and the Swiss "
        "Confederation, and let each ruler choose the official faith of their territory. "
        "Historians such as Andreas Osiander argue that its role in founding state "
        "sovereignty is often exaggerated; therefore it is best read as a consolidation. "
    )
    words = paragraph.split()
    # 500 words with no loop: rotate the paragraph so that no long n-gram repeats exactly.
    return "\n\n".join(
        " ".join(words[i % len(words) :] + words[: i % len(words)]) for i in range(0, 8)
    )


def test_scoring_a_500_word_answer_is_fast() -> None:
    answer = _long_answer()
    assert len(answer.split()) >= 450
    query = "Explain the significance of the Treaty of Westphalia."
    scorer = ResponseScorer()
    scorer.score(query, answer, "knowledge")
    times = []
    for _ in range(30):
        started = time.perf_counter()
        scorer.score(query, answer, "knowledge")
        times.append(time.perf_counter() - started)
    # About 0.5 ms on a 2-core CI machine; the bound leaves room for a loaded one.
    assert statistics.median(times) < 0.01


@pytest.mark.parametrize(
    "answer",
    [
        "1 " * 10000 + "x = 5",  # a long run of numbers with no "=" in reach
        "1+" * 5000 + "1 = 2",
        "```javascript\n" + "/* " * 5000 + "\n```",  # many unclosed comments
        "The quick brown fox jumps over the lazy dog. " * 2000,
    ],
    ids=["digit-run", "operator-run", "open-comments", "long-prose"],
)
def test_pathological_answers_take_linear_time(answer: str) -> None:
    started = time.perf_counter()
    score_response("What is 2 + 2? Explain step by step.", answer, "math")
    assert time.perf_counter() - started < 0.5


def test_scorer_review_uses_this_module() -> None:
    from smartroute_graph.quality.review import scorer_review

    value, details = scorer_review("What is 17 * 23?", "17 * 23 = 401.", "math")
    assert value == details["score"] < WEAK_THRESHOLD
    assert details["penalties"][0]["code"] == "wrong_arithmetic"
    json.dumps(details)
