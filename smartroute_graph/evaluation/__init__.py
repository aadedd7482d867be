"""Evaluation: metrics, and the harness behind ``smartroute eval`` / ``smartroute calibrate``.

Modules: ``metrics`` (classification and routing metrics), ``datasets`` (labelled sets and
outcome tables), ``runner`` (route every prompt, time each decision), ``analysis`` (the
figures), ``report`` (tables, JSON, plots), ``calibrate`` (thresholds for a target),
``langsmith_eval`` (the same as a LangSmith experiment) and ``command`` (the CLI
sub-commands). Only the metrics are imported here, so importing the package stays cheap.
"""

from smartroute_graph.evaluation import metrics
from smartroute_graph.evaluation.metrics import *  # noqa: F403 (the metrics are the package's API)

__all__ = metrics.__all__
