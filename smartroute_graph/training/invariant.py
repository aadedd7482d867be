"""Batch invariance for an int8 model: fixed (calibrated) activation scales.

Dynamic int8 quantisation (``onnxruntime.quantization.quantize_dynamic``) computes each
activation's scale and zero point over the whole input tensor at run time, so a prompt's
logits depend on what it is batched with and on the padding its batch-mates force on it (22
of 640 probes changed domain or complexity between one batch and one-at-a-time). This module
replaces every ``DynamicQuantizeLinear`` with a ``QuantizeLinear`` whose scale and zero point
are constants calibrated once on corpus prompts: a row's result then depends on that row
alone. The int8 weights are kept bit for bit; only how activations are rounded changes.

Measured on the packaged models (bench/README.md, "Batch invariance"): batch-vs-alone
differences drop from up to 0.23 in a probability to 0 (every row computed the same way),
at the same speed as dynamic quantisation. Alternatives measured and set aside: float32
(invariant, 2.5-3x slower), per-token symmetric scales built from standard operators
(invariant but 20-30% slower and much further from the float model on this encoder), and
``MatMulNBits`` 8-bit blocks (slower, not invariant on this runtime).

Apply it to an exported folder (``model.onnx`` rewritten in place; needs ``onnx``, the
``train`` extra)::

    python -m smartroute_graph.training.invariant smartroute_graph/data/models/accurate [FOLDER ...]

:func:`~smartroute_graph.training.export.export_onnx` applies it to every new quantised export.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartroute_graph.classifiers.encoder import INVARIANT_METADATA

__all__ = [
    "CALIBRATION_PERCENTILE",
    "activation_ranges",
    "calibration_texts",
    "fix_activation_scales",
    "fix_folder",
    "fix_model",
    "main",
    "pool_over_last_axis",
]

CALIBRATION_PERCENTILE = 99.99
"""Each calibration prompt contributes this percentile (and its mirror) of every quantised
activation; the range is the widest over all prompts. 99.99 kept closer to the float model
than the plain maximum on the corpus (fewer outliers stretching the scale)."""
_CORPUS_DIRS = ("corpus", "supplement")


def calibration_texts(limit: int = 400, seed: int = 0) -> list[str]:
    """A fixed sample of the packaged training corpus (never the public evaluation files)."""
    from smartroute_graph.classifiers.model_folder import MODELS_DIR
    from smartroute_graph.training.data import load_examples

    data = MODELS_DIR.parent
    texts = [ex.text for ex in load_examples([data / d for d in _CORPUS_DIRS])]
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def _dynamic_inputs(model: Any) -> list[str]:
    names = [n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    return list(dict.fromkeys(names))


def activation_ranges(
    model: Any,
    feeds: Sequence[dict[str, np.ndarray]],
    percentile: float = CALIBRATION_PERCENTILE,
) -> dict[str, tuple[float, float]]:
    """The calibrated (low, high) of every tensor a ``DynamicQuantizeLinear`` reads.

    Args:
        model: an ``onnx.ModelProto`` (not modified).
        feeds: input feeds to run, one prompt each (so the ranges do not depend on batching).
        percentile: see :data:`CALIBRATION_PERCENTILE`.

    Returns:
        Tensor name → (low, high), always with low <= 0 <= high.
    """
    import onnx
    import onnxruntime as ort

    names = _dynamic_inputs(model)
    if not names:
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for name in names:
        if name not in known:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    low = dict.fromkeys(names, 0.0)
    high = dict.fromkeys(names, 0.0)
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed), strict=True):
            flat = np.asarray(value, dtype=np.float32).ravel()
            low[name] = min(low[name], float(np.percentile(flat, 100.0 - percentile)))
            high[name] = max(high[name], float(np.percentile(flat, percentile)))
    return {name: (low[name], high[name]) for name in names}


def fix_activation_scales(
    model: Any, ranges: dict[str, tuple[float, float]], note: str = ""
) -> int:
    """Replace each ``DynamicQuantizeLinear`` by a ``QuantizeLinear`` with fixed scales.

    Replace each ``DynamicQuantizeLinear`` by a ``QuantizeLinear`` with constant uint8 scale and
    zero point from ``ranges`` (modified in place).

    The ``MatMulInteger`` nodes keep their int8 weights; the per-call scale products they are
    rescaled by become constants that ONNX Runtime folds at load.

    Returns:
        How many activations were fixed (0: the graph has no dynamic quantisation).

    Raises:
        KeyError: ``ranges`` lacks a tensor the graph quantises dynamically.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    fixed = 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            continue
        low, high = ranges[node.input[0]]
        scale = np.float32(max(high - low, 1e-8) / 255.0)
        zero = np.uint8(np.clip(round(-low / float(scale)), 0, 255))
        scale_name, zero_name = f"{node.name}/scale", f"{node.name}/zero_point"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.asarray(scale), scale_name),
                numpy_helper.from_array(np.asarray(zero), zero_name),
            ]
        )
        quantized, old_scale, old_zero = node.output
        for user in consumers.get(old_scale, []) + consumers.get(old_zero, []):
            for k, name in enumerate(user.input):
                if name == old_scale:
                    user.input[k] = scale_name
                elif name == old_zero:
                    user.input[k] = zero_name
        node.op_type = "QuantizeLinear"
        node.input.extend([scale_name, zero_name])
        del node.output[:]
        node.output.append(quantized)
        fixed += 1
    if fixed:
        props = {p.key: p.value for p in model.metadata_props}
        props[INVARIANT_METADATA] = note or "fixed (calibrated): the same result in any batch"
        helper.set_model_props(model, props)
    return fixed


def pool_over_last_axis(model: Any) -> int:
    """Make the mean pooling's sum over the sequence a sum over the last axis.

    Make the mean pooling's sum over the sequence a sum over the last axis (modified in place):
    ``ReduceSum(hidden * mask, axes=[1])`` becomes ``ReduceSum(Transpose(...), axes=[-1])``.

    ONNX Runtime sums over a middle axis in a different order for a batch of one than for a
    larger batch (last bits of the pooled vector, then a quantised head rounds the other way);
    over the last axis every row is summed the same way whatever the batch.

    Returns:
        How many sums were rewritten.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    last_axis = "smartroute/last_axis"
    changed = 0
    nodes: list[Any] = []
    for node in graph.node:
        source = producer.get(node.input[0]) if node.input else None
        axes = constants.get(node.input[1]) if len(node.input) > 1 else None
        keepdims = [a.i for a in node.attribute if a.name == "keepdims"]
        if (
            node.op_type == "ReduceSum"
            and source is not None
            and source.op_type == "Mul"
            and axes is not None
            and axes.tolist() == [1]
            and keepdims == [0]
        ):
            moved = f"{node.name or node.output[0]}/transposed"
            nodes.append(helper.make_node("Transpose", [node.input[0]], [moved], perm=[0, 2, 1]))
            node.input[0], node.input[1] = moved, last_axis
            changed += 1
        nodes.append(node)
    if changed:
        graph.initializer.append(numpy_helper.from_array(np.asarray([-1], np.int64), last_axis))
        del graph.node[:]
        graph.node.extend(nodes)
    return changed


def fix_folder(folder: Path, texts: Sequence[str] | None = None) -> int:
    """Calibrate and fix the activation scales of ``folder/model.onnx`` in place.

    Each calibration prompt runs alone through the folder's own tokenizer and model.

    Args:
        folder: a model folder (``smartroute train`` output or a packaged model).
        texts: calibration prompts (default: :func:`calibration_texts`).

    Returns:
        How many activations were fixed (0: nothing to do, the file is left untouched).
    """
    import onnx
    from tokenizers import Tokenizer

    from smartroute_graph.classifiers.encoder import encode_texts
    from smartroute_graph.classifiers.model_folder import read_spec

    path = folder / "model.onnx"
    model = onnx.load(str(path))
    if not _dynamic_inputs(model):
        fixed = pool_over_last_axis(model)
        if fixed:
            _save(model, path)
        return fixed
    spec = read_spec(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    texts = list(texts) if texts is not None else calibration_texts()
    ids = encode_texts(tokenizer, texts, spec)
    fixed = fix_model(model, ids, note=f"calibrated on {len(ids)} corpus prompts")
    _save(model, path)
    return fixed


def _save(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)


def fix_model(model: Any, calibration_ids: Sequence[Sequence[int]], note: str = "") -> int:
    """Make a model batch-invariant: fixed activation scales, then pooling over the last axis.

    :func:`activation_ranges` then :func:`fix_activation_scales` on token-id rows, and
    :func:`pool_over_last_axis`.

    Returns:
        How many activations and sums were changed (0: already batch-invariant).
    """
    feeds = [
        {
            "input_ids": np.asarray([row], dtype=np.int64),
            "attention_mask": np.ones((1, len(row)), dtype=np.int64),
        }
        for row in calibration_ids
    ]
    fixed = fix_activation_scales(model, activation_ranges(model, feeds), note)
    return fixed + pool_over_last_axis(model)


def main(argv: Sequence[str] | None = None) -> int:
    """Fix every folder named on the command line; prints what changed."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__.split("\n\n")[-2].strip())  # noqa: T201
        return 2
    for name in args:
        folder = Path(name)
        if not (folder / "model.onnx").is_file():
            print(f"{folder}: no model.onnx here; pass a model folder")  # noqa: T201
            return 2
        fixed = fix_folder(folder)
        print(  # noqa: T201
            f"{folder}: fixed {fixed} activation scales and sums"
            if fixed
            else f"{folder}: nothing to change; already batch-invariant"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
