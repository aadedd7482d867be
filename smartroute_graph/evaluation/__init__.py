"""Evaluation: metrics, and the harness behind ``smartroute eval`` / ``smartroute calibrate``.

Modules: ``metrics`` (classification and routing metrics), ``datasets`` (labelled sets and
outcome tables), ``runner`` (route every prompt, time each decision), ``analysis`` (the
figures), ``report`` (tables, JSON, plots), ``calibrate`` (thresholds for a target),
``langsmith_eval`` (the same as a LangSmith experiment) and ``command`` (the CLI
sub-commands). Only the metrics are imported here, so importing the package stays cheap.
"""

from smartroute_graph.evaluation.metrics import (
    RoutingCurve,
    accuracy,
    apgr,
    confusion_matrix,
    cost_at_quality,
    cpt,
    expected_calibration_error,
    macro_f1,
    oracle_scores,
    per_class_f1,
    per_class_report,
    percentile,
    quality_at_cost,
    reliability_table,
    routing_curve,
    upper_hull,
)

__all__ = [
    "RoutingCurve",
    "accuracy",
    "apgr",
    "confusion_matrix",
    "cost_at_quality",
    "cpt",
    "expected_calibration_error",
    "macro_f1",
    "oracle_scores",
    "per_class_f1",
    "per_class_report",
    "percentile",
    "quality_at_cost",
    "reliability_table",
    "routing_curve",
    "upper_hull",
]
