"""The HTTP API (``smartroute serve``'s app) as ``langgraph dev`` / LangGraph server mounts it
beside the graphs (``"http": {"app": "graphs/http_app.py:app"}`` in langgraph.json): one server
answers the LangGraph API (``/assistants``, ``/runs``, ``/threads``) and the OpenAI-compatible
``/v1``, ``/route``, ``/health``, ``/metrics``, ``/stats``.

Settings come from the environment: ``SMARTROUTE_PRESET`` (default ``openai``),
``SMARTROUTE_SERVER_TOKEN`` (the bearer token of the protected endpoints; required when provider
keys are set, as for ``smartroute serve``), ``SMARTROUTE_OUTCOME_STORE`` (learning; the same
store the router graph reads) and ``SMARTROUTE_USAGE_STORE`` (the /stats usage log).
"""

import os

from smartroute_graph import SmartRouter
from smartroute_graph.serving.app import create_app

app = create_app(
    SmartRouter.from_preset(
        os.environ.get("SMARTROUTE_PRESET") or "openai",
        outcome_store=os.environ.get("SMARTROUTE_OUTCOME_STORE") or None,
    ),
    server_token=os.environ.get("SMARTROUTE_SERVER_TOKEN") or None,
)
