"""Training pipeline for the encoder classifier (``smartroute train``).

Reading data, splitting and calibration need only numpy; fine-tuning and export need the
``train`` extra (torch, transformers, onnx). Import :mod:`.trainer` for :func:`train`.
"""

from smartroute_graph.training.data import (
    Example,
    TrainingDataError,
    auto_label,
    load_examples,
    stratified_split,
)

__all__ = ["Example", "TrainingDataError", "auto_label", "load_examples", "stratified_split"]
