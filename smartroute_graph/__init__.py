"""smartroute-graph: a hierarchical LLM router for LangChain and LangGraph.

>>> from smartroute_graph import SmartRouter
>>> router = SmartRouter.from_preset("openai")
>>> router.route("Prove that sqrt(2) is irrational").model  # doctest: +SKIP
'o4-mini'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartroute_graph.classifiers import Classification, Classifier, RulesClassifier
    from smartroute_graph.core.attachments import (
        Attachment,
        AttachmentBusyError,
        AttachmentEncodingError,
        AttachmentError,
        AttachmentLimits,
        AttachmentTooLargeError,
        CorruptAttachmentError,
        EmptyAttachmentError,
        EncryptedPDFError,
        UnsupportedAttachmentError,
    )
    from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
    from smartroute_graph.core.errors import (
        AllModelsFailedError,
        BudgetError,
        ConfigError,
        EmptyQueryError,
        InputError,
        InvalidTextError,
        MissingAPIKeyError,
        SmartRouteError,
        UnknownModelError,
    )
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
_LAZY = {
    "Classification": "smartroute_graph.classifiers",
    "Classifier": "smartroute_graph.classifiers",
    "RulesClassifier": "smartroute_graph.classifiers",
    "Attachment": "smartroute_graph.core.attachments",
    "AttachmentBusyError": "smartroute_graph.core.attachments",
    "AttachmentEncodingError": "smartroute_graph.core.attachments",
    "AttachmentError": "smartroute_graph.core.attachments",
    "AttachmentLimits": "smartroute_graph.core.attachments",
    "AttachmentTooLargeError": "smartroute_graph.core.attachments",
    "CorruptAttachmentError": "smartroute_graph.core.attachments",
    "EmptyAttachmentError": "smartroute_graph.core.attachments",
    "EncryptedPDFError": "smartroute_graph.core.attachments",
    "UnsupportedAttachmentError": "smartroute_graph.core.attachments",
    "Catalog": "smartroute_graph.core.catalog",
    "ModelSpec": "smartroute_graph.core.catalog",
    "preset_catalog": "smartroute_graph.core.catalog",
    "AllModelsFailedError": "smartroute_graph.core.errors",
    "BudgetError": "smartroute_graph.core.errors",
    "ConfigError": "smartroute_graph.core.errors",
    "EmptyQueryError": "smartroute_graph.core.errors",
    "InputError": "smartroute_graph.core.errors",
    "InvalidTextError": "smartroute_graph.core.errors",
    "MissingAPIKeyError": "smartroute_graph.core.errors",
    "SmartRouteError": "smartroute_graph.core.errors",
    "UnknownModelError": "smartroute_graph.core.errors",
    "CostTracker": "smartroute_graph.core.pricing",
    "estimate_tokens": "smartroute_graph.core.pricing",
    "COMPLEXITIES": "smartroute_graph.core.taxonomy",
    "DOMAINS": "smartroute_graph.core.taxonomy",
    "Complexity": "smartroute_graph.core.taxonomy",
    "Domain": "smartroute_graph.core.taxonomy",
    "StreamInterruptedError": "smartroute_graph.graph.build",
    "build_graph": "smartroute_graph.graph.build",
    "Attempt": "smartroute_graph.graph.state",
    "RouterInput": "smartroute_graph.graph.state",
    "RouterOutput": "smartroute_graph.graph.state",
    "RouterState": "smartroute_graph.graph.state",
    "ResponseScore": "smartroute_graph.quality.scoring",
    "ResponseScorer": "smartroute_graph.quality.scoring",
    "score_response": "smartroute_graph.quality.scoring",
    "RouterConfig": "smartroute_graph.routing.config",
    "load_config": "smartroute_graph.routing.config",
    "RouterContext": "smartroute_graph.routing.context",
    "Policy": "smartroute_graph.routing.policy",
    "RoutingDecision": "smartroute_graph.routing.policy",
    "SmartRouter": "smartroute_graph.runnable",
}

__all__ = [
    "COMPLEXITIES",
    "DOMAINS",
    "AllModelsFailedError",
    "Attachment",
    "AttachmentBusyError",
    "AttachmentEncodingError",
    "AttachmentError",
    "AttachmentLimits",
    "AttachmentTooLargeError",
    "Attempt",
    "BudgetError",
    "Catalog",
    "Classification",
    "Classifier",
    "Complexity",
    "ConfigError",
    "CorruptAttachmentError",
    "CostTracker",
    "Domain",
    "EmptyAttachmentError",
    "EmptyQueryError",
    "EncryptedPDFError",
    "InputError",
    "InvalidTextError",
    "MissingAPIKeyError",
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
    "SmartRouteError",
    "SmartRouter",
    "StreamInterruptedError",
    "UnknownModelError",
    "UnsupportedAttachmentError",
    "build_graph",
    "estimate_tokens",
    "load_config",
    "preset_catalog",
    "score_response",
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
