"""Classifier backends behind one protocol: ``classify(texts) -> list[Classification]``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from smartroute_graph.classifiers.base import Classification, Classifier, normalise_probs
from smartroute_graph.classifiers.rules import RulesClassifier
from smartroute_graph.core.errors import ConfigError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Classification",
    "Classifier",
    "ClassifierRegistry",
    "RulesClassifier",
    "canonical_name",
    "load_classifier",
    "normalise_probs",
]

# The backend SmartRouter and `smartroute classify` use when none is named.
DEFAULT_CLASSIFIER = "encoder"
_BACKENDS = ("encoder", "encoder:fast", "rules", "llm", "cascade")


def _known(name: str) -> bool:
    return name in _BACKENDS or name == "default" or name.startswith("encoder:")


def canonical_name(name: str) -> str:
    """The name a backend reports as ``Classification.backend``.

    ``"default"`` and ``"encoder"`` both mean the packaged default model, ``"encoder:accurate"``.
    """
    if name == "default":
        name = DEFAULT_CLASSIFIER
    if name == "encoder":
        from smartroute_graph.classifiers.model_folder import DEFAULT_MODEL

        return f"encoder:{DEFAULT_MODEL}"
    return name


def load_classifier(name: str = DEFAULT_CLASSIFIER) -> Classifier:
    """A classifier backend by name.

    ``"encoder"`` (the default: the packaged fine-tuned encoder), ``"encoder:fast"`` (its
    smaller, quicker student), ``"encoder:<model folder>"`` (a model ``smartroute train``
    wrote), ``"rules"`` (keyword heuristics, no model), ``"llm"`` (a chat model with
    structured output, gpt-4.1-nano by default, falling back to the encoder) or
    ``"cascade"`` (the encoder, and the LLM classifier for the queries it is unsure of).
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
    if name == "cascade":
        from smartroute_graph.classifiers.cascade import CascadeClassifier

        return CascadeClassifier()
    raise ConfigError(
        f"unknown classifier {name!r}; choose one of {', '.join(_BACKENDS)} or "
        "'encoder:<model folder>'"
    )


class ClassifierRegistry(Mapping[str, Classifier]):
    """Classifiers by name, each built on first use.

    Building on first use lets a request pick any backend (``classifier=...`` in the run's context)
    without every router loading every model.

    ``default`` names the router's own classifier (``default=``), and ``"encoder"`` the
    packaged ``"encoder:accurate"``, so asking for either never loads a second copy.
    """

    def __init__(
        self, given: Mapping[str, Classifier] | None = None, *, default: str | None = None
    ) -> None:
        self._loaded: dict[str, Classifier] = {}
        for name, classifier in (given or {}).items():
            self._loaded[name] = classifier
            # A cascade's quick classifier serves requests that name it, too.
            first = getattr(classifier, "first", None)
            if first is not None and isinstance(getattr(first, "name", None), str):
                self._loaded.setdefault(first.name, first)
        self._default = canonical_name(default) if default is not None else None

    def _resolve(self, name: str) -> str:
        if name == "default" and self._default is not None:
            return self._default
        return canonical_name(name)

    def __getitem__(self, name: str) -> Classifier:
        if name in self._loaded:
            return self._loaded[name]
        key = self._resolve(name)
        if key not in self._loaded:
            if not _known(key):
                raise KeyError(name)
            if key == "cascade":
                # Built on the encoder this registry already holds (or loads once).
                from smartroute_graph.classifiers.cascade import CascadeClassifier

                self._loaded[key] = CascadeClassifier(self["encoder"])
            else:
                self._loaded[key] = load_classifier(key)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> list[str]:
        extra = [b for b in _BACKENDS if canonical_name(b) not in self._loaded]
        return list(dict.fromkeys([*self._loaded, *extra]))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._loaded or self._resolve(name) in self._loaded or _known(name)
        )
