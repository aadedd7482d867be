"""Tokenizers for training: a pretrained encoder's own, or a WordPiece trained on the corpus."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartroute_graph.core.errors import ConfigError

__all__ = ["load_base_tokenizer", "special_ids", "train_wordpiece"]

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000) -> Any:
    """Train a lower-casing BERT-style WordPiece tokenizer on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIALS)
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_base_tokenizer(base: str) -> Any:
    """The fast tokenizer of a Hugging Face encoder (a local folder or a cached hub name)."""
    from tokenizers import Tokenizer

    local = Path(base) / "tokenizer.json"
    if local.is_file():
        tokenizer = Tokenizer.from_file(str(local))
    else:
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(base).backend_tokenizer
        except Exception as exc:
            raise ConfigError(
                f"cannot load the tokenizer of base encoder {base!r} ({str(exc)[:200]}); "
                "pass a local model folder, --base minilm, or --base scratch"
            ) from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def special_ids(tokenizer: Any) -> tuple[int, int, int]:
    """(cls_id, sep_id, pad_id) of a BERT- or RoBERTa-style tokenizer."""

    def first(*names: str) -> int | None:
        for name in names:
            token_id = tokenizer.token_to_id(name)
            if token_id is not None:
                return int(token_id)
        return None

    cls_id = first("[CLS]", "<s>", "<cls>")
    sep_id = first("[SEP]", "</s>", "<sep>")
    pad_id = first("[PAD]", "<pad>")
    if cls_id is None or sep_id is None:
        raise ConfigError(
            "the base tokenizer has no [CLS]/[SEP] (or <s>/</s>) tokens; use a BERT-style "
            "encoder or --base scratch"
        )
    return cls_id, sep_id, 0 if pad_id is None else pad_id
