"""Evaluation helpers: classification and routing metrics."""

from smartroute_graph.evaluation.metrics import (
    RoutingCurve,
    accuracy,
    apgr,
    confusion_matrix,
    cpt,
    expected_calibration_error,
    macro_f1,
    oracle_scores,
    per_class_f1,
    routing_curve,
)

__all__ = [
    "RoutingCurve",
    "accuracy",
    "apgr",
    "confusion_matrix",
    "cpt",
    "expected_calibration_error",
    "macro_f1",
    "oracle_scores",
    "per_class_f1",
    "routing_curve",
]
