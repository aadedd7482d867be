"""The router graph as LangGraph Studio and ``langgraph dev`` load it.

One node per model of both presets (openai and openrouter); every knob of
:class:`~smartroute_graph.routing.context.RouterContext` (preset, classifier, thresholds, budget,
dry_run, model, …) is the context schema Studio offers. Without an API key for the chosen
model's provider the run stops after ``select_model`` and shows the decision, whose reason
ends in ``no API key for <provider>: dry run``. With ``SMARTROUTE_OUTCOME_STORE`` set (a SQLite
path, ``sqlite:///...`` or ``postgresql://...``) the ``learned`` step decides from the outcomes
kept there (docs/learning.md); without it the step passes through.
"""

import os

from smartroute_graph.graph.studio import build_router_graph

# Compiled without a checkpointer: `langgraph dev` brings its own and refuses a graph's.
graph = build_router_graph(
    presets=("openai", "openrouter"),
    default_preset="openai",
    outcome_store=os.environ.get("SMARTROUTE_OUTCOME_STORE") or None,
)
