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
DEFAULT_CLASSIFIER = "rules"
_BACKENDS = ("rules", "llm")


def load_classifier(name: str = DEFAULT_CLASSIFIER) -> Classifier:
    """A classifier backend by name (``"rules"``)."""
    if name == "default":
        name = DEFAULT_CLASSIFIER
    if name == "rules":
        return RulesClassifier()
    if name == "llm":
        # Built lazily: no API key is needed until the first query (and none at all to
        # fall back to the default backend).
        from smartroute_graph.classifiers.llm import LLMClassifier

        return LLMClassifier()
    raise ConfigError(f"unknown classifier {name!r}; choose one of {', '.join(_BACKENDS)}")


class ClassifierRegistry(Mapping[str, Classifier]):
    """Classifiers by name, each built on first use, so a request can pick any backend
    (``classifier=...`` in the run's context) without every router loading every model."""

    def __init__(self, given: Mapping[str, Classifier] | None = None) -> None:
        self._loaded: dict[str, Classifier] = dict(given or {})

    def __getitem__(self, name: str) -> Classifier:
        if name not in self._loaded:
            if name not in _BACKENDS:
                raise KeyError(name)
            self._loaded[name] = load_classifier(name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._loaded, *_BACKENDS]))

    def __len__(self) -> int:
        return len(set(self._loaded) | set(_BACKENDS))

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in _BACKENDS
