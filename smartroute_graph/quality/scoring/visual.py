"""The ``visual_description`` dimension: how well an answer describes what is seen.

The older OpenRouter router's evaluator rated answers to "describe this image" on their visual
description; this is that dimension, from surface evidence like the others. It applies when
the query asks for a description of something seen (``Query.visual``: an image, a photo, a
chart, a scene, what something looks like) and rates the answer's visual vocabulary: colours,
where things are (left, background, above), shapes, sizes and textures, light, and counts.
An answer that says it cannot see the image scores low here (and as a refusal in the
penalties).
"""

from __future__ import annotations

from smartroute_graph.quality.scoring.answer import Answer
from smartroute_graph.quality.scoring.language import wordset

__all__ = ["visual_description"]

_COLOURS = wordset(
    """red orange yellow green blue purple violet pink brown black white grey gray silver
    gold golden beige teal turquoise navy crimson scarlet maroon olive cyan magenta amber
    colour color colours colors coloured colored pastel"""
)
_PLACES = wordset(
    """left right top bottom centre center middle background foreground corner edge above
    below behind beside front beneath under over upper lower near far horizon surrounding
    overlooking"""
)
_PLACE_PHRASES = (" next to ", " in front of ", " on top of ", " to the left ", " to the right ")
_FORMS = wordset(
    """round circular square rectangular triangular oval curved straight tall short wide
    narrow large small tiny huge thin thick long flat pointed striped spotted textured smooth
    rough shiny matte glossy wooden metal glass stone fabric furry"""
)
_LIGHT = wordset(
    """bright dark dim light lit shadow shadows shade sunlight sunny cloudy glowing glow
    vivid muted faded contrast reflection reflections silhouette"""
)
_COUNTS = wordset("two three four five six seven eight nine ten several dozen pair")
_CANNOT_SEE = (
    " cannot see ", " can't see ", " unable to see ", " unable to view ", " cannot view ",
    " no image ", " not able to see ", " don't see an image ", " do not see an image ",
    " can't view ", " unable to access the image ",
)  # fmt: skip


def visual_description(a: Answer, visual: bool) -> float | None:
    """Rate how concretely the answer describes what is seen.

    Args:
        a: The answer's analysis.
        visual: The query asks for a visual description (else the dimension does not apply).

    Returns:
        The rating in [0, 1]; None when the query asks for no visual description or the
        answer has no prose.
    """
    if not visual or not a.words:
        return None
    if a.phrases(_CANNOT_SEE):
        return 0.05
    n = max(1, a.n_words)
    kinds = (
        a.count(_COLOURS),
        a.count(_PLACES) + a.phrases(_PLACE_PHRASES),
        a.count(_FORMS),
        a.count(_LIGHT),
        a.count(_COUNTS) + sum(1 for w in a.words if w.isdigit()),
    )
    # Breadth (how many kinds of detail) matters more than piling up one kind.
    breadth = sum(1 for k in kinds if k) / len(kinds)
    density = min(1.0, sum(kinds) / n * 100 / 8)  # about 8 visual words per 100 is rich
    enough = min(1.0, n / 40)  # a one-line caption says little
    return min(1.0, 0.15 + 0.45 * breadth + 0.25 * density + 0.15 * enough)
