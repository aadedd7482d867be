"""The batch-invariance transform on an exported, dynamically quantised ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the transform needs onnx (the train extra)")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from smartroute_graph.training.invariant import fix_model  # noqa: E402


def dynamic_model(tmp_path: Path) -> onnx.ModelProto:
    """x [batch, seq] int64 ids → embedding → LayerNorm-free MatMul+ReLU+MatMul, int8 dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 32)).astype(np.float32)
    w1 = rng.normal(size=(32, 64)).astype(np.float32) / 6
    w2 = rng.normal(size=(64, 8)).astype(np.float32) / 8
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["h0"]),
            helper.make_node("MatMul", ["h0", "w1"], ["h1"]),
            helper.make_node("Relu", ["h1"], ["h2"]),
            helper.make_node("MatMul", ["h2", "w2"], ["out"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", 8])],
        [numpy_helper.from_array(a, n) for a, n in ((table, "table"), (w1, "w1"), (w2, "w2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    raw, quant = tmp_path / "raw.onnx", tmp_path / "q.onnx"
    onnx.save(model, str(raw))
    quantize_dynamic(str(raw), str(quant), weight_type=QuantType.QInt8)
    return onnx.load(str(quant))


def run(model: onnx.ModelProto, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["out"], {"input_ids": ids})[0])


def test_fixed_scales_make_rows_independent_of_their_batch(tmp_path: Path) -> None:
    model = dynamic_model(tmp_path)
    rows = np.random.default_rng(1).integers(0, 50, size=(6, 5))
    wide = rows.copy()
    wide[0] = 49  # a batch-mate with other activations moves the dynamic scales
    before = run(model, rows), run(model, wide)
    assert not np.allclose(before[0][1:], before[1][1:], atol=1e-6)

    # calibration inputs are only ids; attention_mask is ignored by this tiny graph
    model.graph.input.append(
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])
    )
    dynamic = sum(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node)
    assert dynamic >= 1
    assert fix_model(model, [list(r) for r in rows], note="test") == dynamic
    assert not any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def out(ids: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        return np.asarray(session.run(["out"], feed)[0])

    together, with_other = out(rows), out(wide)
    np.testing.assert_array_equal(together[1:], with_other[1:])
    alone = np.vstack([out(rows[i : i + 1]) for i in range(len(rows))])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    # close to the dynamic model on the calibration rows (the same int8 weights)
    np.testing.assert_allclose(together, before[0], atol=0.1 * np.abs(before[0]).max())
    assert fix_model(model, [list(r) for r in rows]) == 0  # nothing left to fix
