"""smartroute-graph: a hierarchical LLM router for LangChain and LangGraph.

>>> from smartroute_graph import SmartRouter
>>> router = SmartRouter.from_preset("openai")
>>> router.route("Prove that sqrt(2) is irrational").model  # doctest: +SKIP
'o4-mini'
"""

from smartroute_graph.chat_model import ChatSmartRouter
from smartroute_graph.classifiers import Classification, Classifier, RulesClassifier
from smartroute_graph.core import errors
from smartroute_graph.core.attachments import Attachment, AttachmentLimits
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import *  # noqa: F403  (every error, named in __all__ below)
from smartroute_graph.core.pricing import CostTracker, estimate_tokens
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS, Complexity, Domain
from smartroute_graph.graph.build import StreamInterruptedError, build_graph
from smartroute_graph.graph.state import Attempt, RouterInput, RouterOutput, RouterState
from smartroute_graph.quality.scoring import ResponseScore, ResponseScorer, score_response
from smartroute_graph.routing.config import RouterConfig, load_config
from smartroute_graph.routing.context import RouterContext
from smartroute_graph.routing.policy import Policy, RoutingDecision
from smartroute_graph.runnable import SmartRouter

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
