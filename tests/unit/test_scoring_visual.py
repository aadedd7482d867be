"""The ``visual_description`` dimension (the older OpenRouter router's evaluator had it)."""

from __future__ import annotations

import pytest

from smartroute_graph.quality.scoring import DIMENSIONS, DOMAIN_WEIGHTS, score_response
from smartroute_graph.quality.scoring.query import analyse_query

PHOTO = "Describe this photo of a harbour at dusk"
RICH = (
    "The photo shows a small harbour at dusk. In the foreground, three wooden fishing boats "
    "with red and white hulls are tied to a stone pier on the left. Behind them, the water is "
    "calm and reflects the orange and pink sky; a tall lighthouse stands on the right edge, "
    "its lamp glowing against the dark blue clouds in the background."
)
VAGUE = "It is a picture of a harbour. It is nice and looks peaceful, a good photo overall."
CANNOT = "I cannot see the image, so I am not able to describe it."


@pytest.mark.parametrize(
    ("query", "visual"),
    [
        (PHOTO, True),
        ("What is in this picture?", True),
        ("Caption this image for a news site", True),
        ("What does a pangolin look like?", True),
        ("Describe the appearance of Saturn's rings", True),
        ("Describe a graph traversal algorithm", False),
        ("Explain recursion with an example", False),
        ("What is 17 * 23?", False),
    ],
)
def test_which_queries_ask_for_a_visual_description(query: str, visual: bool) -> None:
    assert analyse_query(query).visual is visual


def test_a_concrete_description_beats_a_vague_one_and_a_refusal() -> None:
    rich, vague, cannot = (score_response(PHOTO, a) for a in (RICH, VAGUE, CANNOT))
    assert rich.dimensions["visual_description"] >= 0.8
    assert vague.dimensions["visual_description"] < 0.45
    assert cannot.dimensions["visual_description"] < 0.1
    assert rich.score > vague.score > cannot.score
    assert "refusal" in {p.code for p in cannot.penalties}


def test_the_dimension_applies_only_to_visual_queries() -> None:
    assert "visual_description" in DIMENSIONS
    assert all(w["visual_description"] > 0 for w in DOMAIN_WEIGHTS.values())
    for query, answer in (
        ("What is the capital of France?", "Paris is the capital of France."),
        (
            "Write a haiku about rain",
            "Soft rain on the roof\nwhispers to the sleeping town\npuddles hold the sky",
        ),
    ):
        assert "visual_description" not in score_response(query, answer).dimensions
    # With the domain given, too.
    assert "visual_description" in score_response(PHOTO, RICH, domain="creative").dimensions
