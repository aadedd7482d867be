"""smartroute-graph: a hierarchical LLM router for LangChain and LangGraph.

>>> from smartroute_graph import SmartRouter
>>> router = SmartRouter.from_preset("openai")
>>> router.route("Prove that sqrt(2) is irrational").model  # doctest: +SKIP
'o4-mini'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from smartroute_graph.core import errors
from smartroute_graph.core.errors import *  # noqa: F403  (every error, named in __all__ below)

if TYPE_CHECKING:
    from smartroute_graph.chat_model import ChatSmartRouter
    from smartroute_graph.classifiers import Classification, Classifier, RulesClassifier
    from smartroute_graph.core.attachments import Attachment, AttachmentLimits
    from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
    from smartroute_graph.core.pricing import CostTracker, estimate_tokens
    from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS, Complexity, Domain
    from smartroute_graph.graph.build import StreamInterruptedError, build_graph
    from smartroute_graph.graph.state import Attempt, RouterInput, RouterOutput, RouterState
    from smartroute_graph.quality.scoring import ResponseScore, ResponseScorer, score_response
    from smartroute_graph.routing.config import RouterConfig, load_config
    from smartroute_graph.routing.context import RouterContext
    from smartroute_graph.routing.policy import Policy, RoutingDecision
    from smartroute_graph.runnable import SmartRouter

# Names load on first use, so `smartroute classify` and other light entry points do not import
# LangGraph and the whole router to read one class.
_MODULES: dict[str, tuple[str, ...]] = {
    "smartroute_graph.chat_model": ("ChatSmartRouter",),
    "smartroute_graph.classifiers": ("Classification", "Classifier", "RulesClassifier"),
    "smartroute_graph.core.attachments": ("Attachment", "AttachmentLimits"),
    "smartroute_graph.core.catalog": ("Catalog", "ModelSpec", "preset_catalog"),
    "smartroute_graph.core.pricing": ("CostTracker", "estimate_tokens"),
    "smartroute_graph.core.taxonomy": ("COMPLEXITIES", "DOMAINS", "Complexity", "Domain"),
    "smartroute_graph.graph.build": ("StreamInterruptedError", "build_graph"),
    "smartroute_graph.graph.state": ("Attempt", "RouterInput", "RouterOutput", "RouterState"),
    "smartroute_graph.quality.scoring": ("ResponseScore", "ResponseScorer", "score_response"),
    "smartroute_graph.routing.config": ("RouterConfig", "load_config"),
    "smartroute_graph.routing.context": ("RouterContext",),
    "smartroute_graph.routing.policy": ("Policy", "RoutingDecision"),
    "smartroute_graph.runnable": ("SmartRouter",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "COMPLEXITIES",
    "DOMAINS",
    "Attachment",
    "AttachmentLimits",
    "Attempt",
    "Catalog",
    "ChatSmartRouter",
    "Classification",
    "Classifier",
    "Complexity",
    "CostTracker",
    "Domain",
    "ModelSpec",
    "Policy",
    "ResponseScore",
    "ResponseScorer",
    "RouterConfig",
    "RouterContext",
    "RouterInput",
    "RouterOutput",
    "RouterState",
    "RoutingDecision",
    "RulesClassifier",
    "SmartRouter",
    "StreamInterruptedError",
    "build_graph",
    "estimate_tokens",
    "load_config",
    "preset_catalog",
    "score_response",
    *errors.__all__,
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smartroute_graph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
