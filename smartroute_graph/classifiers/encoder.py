"""The default classifier: a small transformer encoder with hierarchical heads, run by ONNX Runtime.

One shared encoder reads the query; a domain head gives the first level and seven complexity
heads (one per domain) give the second level conditioned on the domain. The model folder is
written by ``smartroute train`` (see :mod:`smartroute_graph.classifiers.model_folder`); the
packaged ``accurate`` model (and its ``fast`` student) loads offline and needs neither torch
nor a download.

Long prompts keep their head and tail tokens (``max_len`` in all). Batches are sorted by length
and padded per batch. Repeated prompts are answered from an LRU decision cache.

Sentence embeddings (the learned policy's keys, :meth:`EncoderClassifier.embed`) come from the
same forward pass as the classification: ``model.onnx`` exports the pooled tensors the heads
read (see :func:`smartroute_graph.training.export.add_embedding_outputs`). Each prompt is run
alone for them: dynamic int8 quantisation scales activations over the whole batch, so a
batched run would make a prompt's embedding depend on its batch-mates, and the outcome store
needs the same key for the same prompt every time.
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
    "SPINNING_ENV",
    "THREADS_ENV",
    "EncoderClassifier",
    "encode_texts",
    "normalise_rows",
    "softmax",
]

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
        batch_size: texts per forward pass in :meth:`classify`.
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
        batch_size: int = 64,
        cache_size: int = 4096,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir: Path = resolve_model_dir(model)
        self.spec: ModelSpec = read_spec(self.model_dir)
        self.name: str = f"encoder:{self.spec.name}"
        self.batch_size = max(1, batch_size)
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
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
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
        order = sorted(range(n), key=lambda i: len(ids[i]))
        for start in range(0, n, self.batch_size):
            chunk = order[start : start + self.batch_size]
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
        """Classify each text and embed it, both from one forward pass per text.

        Every text runs alone (a batch of one), so its embedding and its classification are
        the same whatever it is sent with: what a single query routed through the graph gets.
        A batched :meth:`classify` of the same text may differ in the last digits (dynamic
        quantisation). The embedding is the unit-length concatenation of the mean-pooled last
        hidden state (the heads' input) and the mean-pooled middle layer, each normalised first
        and weighted equally. Repeated texts come from a cache.

        Raises:
            ModelFolderError: ``model.onnx`` exports no embedding.
        """
        if not self._embedding_outputs:
            raise ModelFolderError(
                f"{str(self.model_dir / 'model.onnx')!r} exports no sentence embedding; add it "
                "with `python tools/add_embedding_outputs.py FOLDER` or retrain the model"
            )
        dim = self._embedding_dim or 0
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        decisions: list[Classification] = []
        for i, text in enumerate(texts):
            hit = self._embed_cache.get(text)
            if hit is None:
                hit = self._classify_embed_one(text)
                self._embed_cache.put(text, hit)
            decisions.append(hit[0])
            vectors[i] = hit[1]
        return decisions, vectors

    # ------------------------------------------------------------------ internals
    def _classify_uncached(self, texts: Sequence[str]) -> list[Classification]:
        dprobs, cprobs = self.predict_probs(texts)
        domains, complexities = self.spec.domains, self.spec.complexities
        out = []
        for i in range(len(texts)):
            domain_probs = {d: float(dprobs[i, j]) for j, d in enumerate(domains)}
            by_domain = {
                d: {c: float(cprobs[i, j, k]) for k, c in enumerate(complexities)}
                for j, d in enumerate(domains)
            }
            out.append(Classification.from_probs(domain_probs, by_domain, backend=self.name))
        return out

    def _classify_embed_one(self, text: str) -> tuple[Classification, np.ndarray]:
        names = ["domain_logits", "complexity_logits", *self._embedding_outputs]
        outs = self._session.run(names, self._feed(self._encode([text])))
        temps = self.spec.temperatures
        dprobs = softmax(np.asarray(outs[0]), temps.get("domain", 1.0))[0]
        cprobs = softmax(np.asarray(outs[1]), temps.get("complexity", 1.0))[0]
        domains, complexities = self.spec.domains, self.spec.complexities
        decision = Classification.from_probs(
            {d: float(dprobs[j]) for j, d in enumerate(domains)},
            {
                d: {c: float(cprobs[j, k]) for k, c in enumerate(complexities)}
                for j, d in enumerate(domains)
            },
            backend=self.name,
        )
        parts = [normalise_rows(np.asarray(o, dtype=np.float32))[0] for o in outs[2:]]
        vector = np.concatenate(parts) / np.float32(np.sqrt(len(parts)))
        vector.setflags(write=False)
        return decision, vector

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
