"""A confidence-gated cascade: a quick classifier decides, a stronger one where it is unsure.

The stronger one is asked only about the queries the quick one is unsure of.

The default pairing is the packaged encoder, then the LLM classifier (gpt-4.1-nano), as
``classifier="cascade"``: most queries cost ~2 ms and nothing, and the LLM's tokens are
spent where the encoder's confidence is below ``threshold``. The encoder's confidence is
calibrated (temperature scaling), so the threshold reads as a probability of being right;
``bench/eval_cascade.py`` measures what share of real prompts each threshold escalates and
how often the encoder is right on each side of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartroute_graph.classifiers.base import Classification, Classifier
from smartroute_graph.core.errors import ConfigError

__all__ = ["DEFAULT_CASCADE_THRESHOLD", "CascadeClassifier"]

DEFAULT_CASCADE_THRESHOLD = 0.5


class CascadeClassifier:
    """Classify with ``first``; re-ask ``second`` where ``first``'s confidence is low.

    Args:
        first: the quick classifier (default: the packaged encoder).
        second: the stronger one (default: the LLM classifier; on its own failure it falls
            back to ``first``'s answer, so a cascade never does worse than ``first`` alone).
        threshold: queries whose ``first`` confidence (domain x complexity) is below this go
            to ``second``; 0 never escalates, 1 always does.

    The result's ``backend`` says which classifier decided (``"encoder:accurate"`` or
    ``"encoder:accurate→llm"``), and ``note`` the confidence that sent it on.
    """

    def __init__(
        self,
        first: Classifier | None = None,
        second: Classifier | None = None,
        *,
        threshold: float = DEFAULT_CASCADE_THRESHOLD,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"the cascade threshold must be between 0 and 1, got {threshold}")
        if first is None:
            from smartroute_graph.classifiers.encoder import EncoderClassifier

            first = EncoderClassifier()
        if second is None:
            from smartroute_graph.classifiers.llm import LLMClassifier

            second = LLMClassifier(fallback=first)
        self.first = first
        self.second = second
        self.threshold = threshold
        self.name = f"{first.name}→{second.name}"

    def _unsure(self, results: Sequence[Classification]) -> list[int]:
        everything = self.threshold >= 1.0  # even a confidence of exactly 1
        return [i for i, c in enumerate(results) if everything or c.confidence < self.threshold]

    def _merge(
        self,
        results: list[Classification],
        unsure: list[int],
        answers: Sequence[Classification],
    ) -> list[Classification]:
        for i, answer in zip(unsure, answers, strict=True):
            why = f"{self.first.name} confidence {results[i].confidence:.2f} < {self.threshold:g}"
            note = f"{why}; {answer.note}" if answer.note else why
            backend = f"{self.first.name}→{answer.backend}"
            usage = (*results[i].usage, *answer.usage)  # both were asked
            results[i] = answer.model_copy(
                update={"backend": backend, "note": note, "usage": usage}
            )
        return results

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify every text with ``first``, and the unsure ones again with ``second``."""
        results = list(self.first.classify(texts))
        unsure = self._unsure(results)
        if not unsure:
            return results
        return self._merge(results, unsure, self.second.classify([texts[i] for i in unsure]))

    async def aclassify(self, texts: Sequence[str]) -> list[Classification]:
        """Async :meth:`classify` (the second classifier's network calls do not block)."""
        results = list(self.first.classify(texts))
        unsure = self._unsure(results)
        if not unsure:
            return results
        asked = [texts[i] for i in unsure]
        aclassify = getattr(self.second, "aclassify", None)
        answers = await aclassify(asked) if aclassify is not None else self.second.classify(asked)
        return self._merge(results, unsure, answers)
