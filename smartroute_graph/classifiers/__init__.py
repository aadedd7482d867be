"""Classifier backends behind one protocol: ``classify(texts) -> list[Classification]``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from smartroute_graph.classifiers.base import Classification, Classifier, normalise_probs
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.errors import ConfigError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Classification",
    "Classifier",
    "ClassifierRegistry",
    "RulesClassifier",
    "load_classifier",
    "normalise_probs",
]

# The backend SmartRouter and `smartroute classify` use when none is named.
DEFAULT_CLASSIFIER = "encoder"
_BACKENDS = ("encoder", "encoder:fast", "rules", "llm")


def _known(name: str) -> bool:
    return name in _BACKENDS or name.startswith("encoder:")


def load_classifier(name: str = DEFAULT_CLASSIFIER) -> Classifier:
    """A classifier backend by name.

    ``"encoder"`` (the default: the packaged fine-tuned encoder), ``"encoder:fast"`` (its
    smaller, quicker student), ``"encoder:<model folder>"`` (a model ``smartroute train``
    wrote), ``"rules"`` (keyword heuristics, no model) or ``"llm"`` (a chat model with
    structured output, gpt-4.1-nano by default, falling back to the encoder).
    """
    if name == "default":
        name = DEFAULT_CLASSIFIER
    if name == "rules":
        return RulesClassifier()
    if name == "encoder" or name.startswith("encoder:"):
        from smartroute_graph.classifiers.encoder import EncoderClassifier

        return EncoderClassifier(name.partition(":")[2] or None)
    if name == "llm":
        # Built lazily: no API key is needed until the first query (and none at all to
        # fall back to the default backend).
        from smartroute_graph.classifiers.llm import LLMClassifier

        return LLMClassifier()
    raise ConfigError(
        f"unknown classifier {name!r}; choose one of {', '.join(_BACKENDS)} or "
        "'encoder:<model folder>'"
    )


class ClassifierRegistry(Mapping[str, Classifier]):
    """Classifiers by name, each built on first use, so a request can pick any backend
    (``classifier=...`` in the run's context) without every router loading every model."""

    def __init__(self, given: Mapping[str, Classifier] | None = None) -> None:
        self._loaded: dict[str, Classifier] = dict(given or {})

    def __getitem__(self, name: str) -> Classifier:
        if name not in self._loaded:
            if not _known(name):
                raise KeyError(name)
            self._loaded[name] = load_classifier(name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._loaded, *_BACKENDS]))

    def __len__(self) -> int:
        return len(set(self._loaded) | set(_BACKENDS))

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or (isinstance(name, str) and _known(name))
