"""The default classifier: a small transformer encoder with hierarchical heads, run by ONNX Runtime.

One shared encoder reads the query; a domain head gives the first level and seven complexity
heads (one per domain) give the second level conditioned on the domain. The model folder is
written by ``smartroute train`` (see :mod:`smartroute_graph.classifiers.model_folder`); the
packaged ``accurate`` model (and its ``fast`` student) loads offline and needs neither torch
nor a download.

Long prompts keep their head and tail tokens (``max_len`` in all). A call's prompts are grouped
by token length and cut into batches of at most ``batch_tokens`` tokens: no padding at all,
and short prompts travel in large batches. Repeated prompts are answered from
an LRU decision cache.

The packaged models quantise activations with fixed, calibrated scales
(:mod:`smartroute_graph.training.invariant`), so a prompt gets the same probabilities in any
batch, in any order. Sentence embeddings (the learned policy's keys,
:meth:`EncoderClassifier.embed`) come from the same forward pass as the classification:
``model.onnx`` exports the pooled tensors the heads read (see
:func:`smartroute_graph.training.export.add_embedding_outputs`). A folder still quantised
dynamically (written before the fix; ``python -m smartroute_graph.training.invariant FOLDER``
converts it) has each prompt embedded alone, so the outcome store keeps one key per prompt.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.classifiers.cache import DecisionCache
from smartroute_graph.classifiers.model_folder import (
    ModelFolderError,
    ModelSpec,
    read_spec,
    resolve_model_dir,
)
from smartroute_graph.core.errors import ConfigError

__all__ = [
    "INVARIANT_METADATA",
    "SPINNING_ENV",
    "THREADS_ENV",
    "EncoderClassifier",
    "encode_texts",
    "normalise_rows",
    "softmax",
]

INVARIANT_METADATA = "smartroute.activation_scales"
"""``model.onnx`` metadata key present when its activation scales are fixed (batch-invariant)."""
# ONNX Runtime's extended graph fusions (FusedMatMul for attention's scaling, SkipLayerNorm,
# and others) give a batch of one different last bits than a larger batch; a quantised
# activation downstream can then round the other way (up to 4e-3 in a logit on the probes).
# The basic level keeps every prompt's bits the same in any batch (on the packaged models it
# measured as fast as the extended level on 2 cores), and the transpose optimiser stays off so
# the pooling sum keeps running over the last axis (training.invariant.pool_over_last_axis).
_OPTIMIZATION_LEVEL = "ORT_ENABLE_BASIC"
_DISABLED_OPTIMIZERS = ["TransposeOptimizer"]
_MAX_CHARS = 6000  # longer texts keep their first and last 3000 characters before tokenising


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis of ``logits / temperature`` (numerically stable)."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Each row of ``x`` scaled to unit L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


def encode_texts(tokenizer: Any, texts: Sequence[str], spec: ModelSpec) -> list[list[int]]:
    """Token ids for each text: ``[CLS] head … tail [SEP]``, at most ``spec.max_len`` long.

    Training and inference share this function so that both see the same inputs.
    """
    clipped = [
        t if len(t) <= _MAX_CHARS else t[: _MAX_CHARS // 2] + "\n" + t[-_MAX_CHARS // 2 :]
        for t in texts
    ]
    encodings = tokenizer.encode_batch(clipped, add_special_tokens=False)
    budget = spec.max_len - 2
    head = budget // 2
    out = []
    for enc in encodings:
        tokens = enc.ids
        if len(tokens) > budget:
            tokens = tokens[:head] + tokens[len(tokens) - (budget - head) :]
        out.append([spec.cls_id, *tokens, spec.sep_id])
    return out


THREADS_ENV = "SMARTROUTE_ENCODER_THREADS"
SPINNING_ENV = "SMARTROUTE_ENCODER_SPINNING"


def _env_threads() -> int | None:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{THREADS_ENV} must be a whole number of threads >= 1, got {raw!r}")
    return int(raw)


def _env_spinning() -> bool:
    raw = os.environ.get(SPINNING_ENV, "").strip().lower()
    if raw in ("", "1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{SPINNING_ENV} must be 1 or 0, got {raw!r}")


class EncoderClassifier:
    """Classify queries with a trained encoder model folder (ONNX Runtime, CPU).

    Args:
        model: a packaged model name (``"accurate"``, the default, or ``"fast"``) or a model
            folder path.
        threads: ONNX Runtime intra-op threads (default: ``SMARTROUTE_ENCODER_THREADS``, else
            up to 4 of the machine's cores).
        spinning: let idle intra-op threads spin-wait for work (default:
            ``SMARTROUTE_ENCODER_SPINNING`` = ``1``/``0``, else on). Spinning buys single-query
            latency; a server answering many requests at once does better with one thread
            and no spinning, which ``smartroute serve`` sets (see bench/README.md).
        batch_size: at most this many texts per forward pass.
        batch_tokens: at most this many tokens per forward pass; a batch holds prompts of one
            token length, so a batch of short prompts holds many of them.
        cache_size: decisions kept for repeated texts (0 disables the cache).

    Raises:
        ModelFolderError: the folder is missing, incomplete or corrupt.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threads: int | None = None,
        spinning: bool | None = None,
        batch_size: int = 256,
        batch_tokens: int = 2048,
        cache_size: int = 4096,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir: Path = resolve_model_dir(model)
        self.spec: ModelSpec = read_spec(self.model_dir)
        self.name: str = f"encoder:{self.spec.name}"
        self.batch_size = max(1, batch_size)
        self.batch_tokens = max(1, batch_tokens)
        self.cache_size = max(0, cache_size)
        self._cache: DecisionCache[Classification] = DecisionCache(self.cache_size)
        self._embed_cache: DecisionCache[tuple[Classification, np.ndarray]] = DecisionCache(
            self.cache_size
        )
        self._lock = threading.Lock()
        try:
            self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:
            raise ModelFolderError(
                f"cannot read {str(self.model_dir / 'tokenizer.json')!r} ({exc}); "
                "retrain the model or restore the file"
            ) from None
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        options = ort.SessionOptions()
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be 1 or more, got {threads}")
        options.intra_op_num_threads = threads or _env_threads() or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        if spinning is None:
            spinning = _env_spinning()
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPTIMIZATION_LEVEL)
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_dir / "model.onnx"),
                options,
                providers=["CPUExecutionProvider"],
                disabled_optimizers=_DISABLED_OPTIMIZERS,
            )
        except Exception as exc:
            raise ModelFolderError(
                f"cannot load {str(self.model_dir / 'model.onnx')!r}: "
                f"{str(exc).splitlines()[0][:200]}; retrain the model or restore the file"
            ) from None
        self._input_names = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= self._input_names:
            raise ModelFolderError(
                f"{str(self.model_dir / 'model.onnx')!r} does not take input_ids and "
                "attention_mask; export it with `smartroute train`"
            )
        self._check_outputs()
        meta = self._session.get_modelmeta().custom_metadata_map
        self.batch_invariant: bool = INVARIANT_METADATA in meta
        """Whether a prompt's result is the same in any batch (fixed activation scales)."""
        outputs = {o.name for o in self._session.get_outputs()}
        self._embedding_outputs = [n for n in ("embedding", "embedding_mid") if n in outputs]
        self._embedding_dim = (
            len(self._embedding_outputs) * self._hidden_size() if self._embedding_outputs else None
        )

    # ------------------------------------------------------------------ public API
    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify each text (in order); repeated texts come from the decision cache."""
        results: list[Classification | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is not None:
                results[i] = hit
            else:
                todo.setdefault(text, []).append(i)
        if todo:
            unique = list(todo)
            for text, decision in zip(unique, self._classify_uncached(unique), strict=False):
                self._cache.put(text, decision)
                for i in todo[text]:
                    results[i] = decision
        return [r for r in results if r is not None]

    def predict_logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw (uncalibrated) logits: domain [n, D] and complexity [n, D, C], in input order."""
        n = len(texts)
        n_dom, n_cx = len(self.spec.domains), len(self.spec.complexities)
        dom = np.zeros((n, n_dom), dtype=np.float32)
        cx = np.zeros((n, n_dom, n_cx), dtype=np.float32)
        if n == 0:
            return dom, cx
        ids = self._encode(texts)
        for chunk in self._batches(ids):
            d, c = self._run([ids[i] for i in chunk])
            dom[chunk] = d
            cx[chunk] = c
        return dom, cx

    def predict_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities: domain [n, D] and complexity [n, D, C] (spec order)."""
        dom, cx = self.predict_logits(texts)
        temps = self.spec.temperatures
        return softmax(dom, temps.get("domain", 1.0)), softmax(cx, temps.get("complexity", 1.0))

    def clear_cache(self) -> None:
        """Forget every cached decision and embedding."""
        self._cache.clear()
        self._embed_cache.clear()

    @property
    def embedding_dim(self) -> int | None:
        """Length of :meth:`embed`'s vectors; None when ``model.onnx`` exports no embedding.

        That is a model folder written before the outputs existed;
        ``tools/add_embedding_outputs.py`` adds them.
        """
        return self._embedding_dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings [n, :attr:`embedding_dim`] (float32, unit rows), in input order.

        See :meth:`classify_with_embeddings` (this is its second half).
        """
        return self.classify_with_embeddings(texts)[1]

    def classify_with_embeddings(
        self, texts: Sequence[str]
    ) -> tuple[list[Classification], np.ndarray]:
        """Classify each text and embed it, both from the same forward pass.

        A text's embedding and classification are the same whatever it is sent with (texts
        run in length-sorted batches when the model is :attr:`batch_invariant`, else one at a
        time). The embedding is the unit-length concatenation of the mean-pooled last hidden
        state (the heads' input) and the mean-pooled middle layer, each normalised first and
        weighted equally. Repeated texts come from a cache.

        Raises:
            ModelFolderError: ``model.onnx`` exports no embedding.
        """
        if not self._embedding_outputs:
            raise ModelFolderError(
                f"{str(self.model_dir / 'model.onnx')!r} exports no sentence embedding; add it "
                "with `python tools/add_embedding_outputs.py FOLDER` or retrain the model"
            )
        dim = self._embedding_dim or 0
        found: dict[str, tuple[Classification, np.ndarray]] = {}
        pending: dict[str, None] = {}
        for text in texts:
            if text in found or text in pending:
                continue
            hit = self._embed_cache.get(text)
            if hit is None:
                pending[text] = None
            else:
                found[text] = hit
        if pending:
            todo = list(pending)
            ids = self._encode(todo)
            batches = self._batches(ids) if self.batch_invariant else [[i] for i in range(len(ids))]
            for chunk in batches:
                for i, pair in zip(
                    chunk, self._classify_embed([ids[i] for i in chunk]), strict=True
                ):
                    self._embed_cache.put(todo[i], pair)
                    found[todo[i]] = pair
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        for i, text in enumerate(texts):
            vectors[i] = found[text][1]
        return [found[t][0] for t in texts], vectors

    # ------------------------------------------------------------------ internals
    def _classify_uncached(self, texts: Sequence[str]) -> list[Classification]:
        return self._decisions(*self.predict_probs(texts))

    def _decisions(self, dprobs: np.ndarray, cprobs: np.ndarray) -> list[Classification]:
        domains, complexities = self.spec.domains, self.spec.complexities
        out = []
        for i in range(len(dprobs)):
            domain_probs = {d: float(dprobs[i, j]) for j, d in enumerate(domains)}
            by_domain = {
                d: {c: float(cprobs[i, j, k]) for k, c in enumerate(complexities)}
                for j, d in enumerate(domains)
            }
            out.append(Classification.from_probs(domain_probs, by_domain, backend=self.name))
        return out

    def _classify_embed(self, batch: list[list[int]]) -> list[tuple[Classification, np.ndarray]]:
        names = ["domain_logits", "complexity_logits", *self._embedding_outputs]
        outs = self._session.run(names, self._feed(batch))
        temps = self.spec.temperatures
        dprobs = softmax(np.asarray(outs[0]), temps.get("domain", 1.0))
        cprobs = softmax(np.asarray(outs[1]), temps.get("complexity", 1.0))
        decisions = self._decisions(dprobs, cprobs)
        parts = [normalise_rows(np.asarray(o, dtype=np.float32)) for o in outs[2:]]
        vectors = np.concatenate(parts, axis=1) / np.float32(np.sqrt(len(parts)))
        out = []
        for row, decision in enumerate(decisions):
            vector = vectors[row].copy()
            vector.setflags(write=False)
            out.append((decision, vector))
        return out

    def _batches(self, ids: Sequence[Sequence[int]]) -> list[list[int]]:
        """Indices of ``ids`` grouped by token length, cut within the size limits.

        Rows of one batch have the same length, so nothing is padded: a padded row's float
        sums (attention over more positions) can differ in the last bit from the row alone,
        and a quantised activation can round the other way on it (up to 7e-4 on one probe).
        """
        batches: list[list[int]] = []
        current: list[int] = []
        for i in sorted(range(len(ids)), key=lambda i: len(ids[i])):
            if current and (
                len(ids[current[0]]) != len(ids[i])
                or len(current) >= self.batch_size
                or (len(current) + 1) * len(ids[i]) > self.batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _hidden_size(self) -> int:
        out = self._session.run(
            self._embedding_outputs[:1], self._feed([[self.spec.cls_id, self.spec.sep_id]])
        )
        return int(np.asarray(out[0]).shape[-1])

    def _feed(self, batch: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(x) for x in batch)
        ids = np.full((len(batch), width), self.spec.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        return feed

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode_texts(self._tokenizer, texts, self.spec)

    def _run(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        dom, cx = self._session.run(["domain_logits", "complexity_logits"], self._feed(batch))
        return np.asarray(dom), np.asarray(cx)

    def _check_outputs(self) -> None:
        try:
            dom, cx = self._run([[self.spec.cls_id, self.spec.sep_id]])
        except Exception as exc:
            raise ModelFolderError(
                f"{str(self.model_dir / 'model.onnx')!r} failed a test run "
                f"({str(exc).splitlines()[0][:200]}); retrain the model or restore the file"
            ) from None
        n_dom, n_cx = len(self.spec.domains), len(self.spec.complexities)
        if dom.shape != (1, n_dom) or cx.shape != (1, n_dom, n_cx):
            raise ModelFolderError(
                f"{str(self.model_dir / 'model.onnx')!r} returns shapes {dom.shape} and "
                f"{cx.shape}, labels.json expects (1, {n_dom}) and (1, {n_dom}, {n_cx}); "
                "the model and labels.json come from different trainings"
            )
