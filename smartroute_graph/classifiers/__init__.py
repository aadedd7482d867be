"""Classifier backends behind one protocol: ``classify(texts) -> list[Classification]``."""

from __future__ import annotations

from smartroute_graph.classifiers.base import Classification, Classifier, normalise_probs
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.errors import ConfigError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Classification",
    "Classifier",
    "RulesClassifier",
    "load_classifier",
    "normalise_probs",
]

# The backend SmartRouter and `smartroute classify` use when none is named.
DEFAULT_CLASSIFIER = "rules"
_BACKENDS = ("rules",)


def load_classifier(name: str = DEFAULT_CLASSIFIER) -> Classifier:
    """A classifier backend by name (``"rules"``)."""
    if name == "default":
        name = DEFAULT_CLASSIFIER
    if name == "rules":
        return RulesClassifier()
    raise ConfigError(f"unknown classifier {name!r}; choose one of {', '.join(_BACKENDS)}")
