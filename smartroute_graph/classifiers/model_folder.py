"""The on-disk format of a trained encoder model and the packaged named models.

A model folder holds::

    model.onnx      encoder + domain head + 7x3 domain-conditioned complexity heads
    tokenizer.json  a `tokenizers` tokenizer (WordPiece); padding/truncation are done here
    labels.json     label maps, max_len, special token ids, temperatures (see ModelSpec)
    metrics.json    held-out metrics written by the training pipeline
    MODEL_CARD.md   what the model is, how it was trained, how well it does

``model.onnx`` takes ``input_ids`` and ``attention_mask`` (int64, [batch, seq]) and returns
``domain_logits`` [batch, n_domains] and ``complexity_logits`` [batch, n_domains,
n_complexities]. Temperatures in ``labels.json`` divide the logits before the softmax. Since
the learned policy it also returns ``embedding`` and ``embedding_mid`` [batch, hidden], the
pooled sentence embeddings of the same pass (older folders without them still classify;
``tools/add_embedding_outputs.py`` adds them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT",
    "MODELS_DIR",
    "MODEL_FILES",
    "ModelFolderError",
    "ModelSpec",
    "available_models",
    "read_spec",
    "resolve_model_dir",
    "write_spec",
]

# The packaged model the router uses by default: the fine-tuned MiniLM-L6 ("fast" is its
# three-layer student: about 2.5x quicker, less accurate on real prompts; see bench/README.md).
DEFAULT_MODEL = "accurate"

FORMAT = "smartroute-encoder/1"
MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
MODEL_FILES = ("model.onnx", "tokenizer.json", "labels.json")
_RETRAIN_HINT = (
    "retrain it with `smartroute train --out <folder>` or pass a folder that command wrote"
)


class ModelFolderError(ConfigError):
    """A model folder is missing, incomplete or corrupt."""


@dataclass
class ModelSpec:
    """The contents of ``labels.json``."""

    domains: list[str] = field(default_factory=lambda: list(DOMAINS))
    complexities: list[str] = field(default_factory=lambda: list(COMPLEXITIES))
    max_len: int = 128
    cls_id: int = 101
    sep_id: int = 102
    pad_id: int = 0
    temperatures: dict[str, float] = field(
        default_factory=lambda: {"domain": 1.0, "complexity": 1.0}
    )
    name: str = "custom"
    base: str = ""
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what ``labels.json`` holds)."""
        return asdict(self)


def available_models() -> list[str]:
    """Names of the models shipped in the package (folders under ``data/models``)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "labels.json").is_file())


def resolve_model_dir(model: str | Path | None) -> Path:
    """A packaged model's name (``"accurate"``, ``"fast"``) or a folder path → folder."""
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and "/" not in model and "\\" not in model:
        packaged = MODELS_DIR / model
        if packaged.is_dir():
            return packaged
        if not Path(model).exists():
            names = ", ".join(available_models()) or "none installed"
            raise ModelFolderError(
                f"no packaged encoder model named {model!r} (packaged: {names}); "
                "pass a model folder path instead"
            )
    path = Path(model)
    if not path.is_dir():
        raise ModelFolderError(f"model folder {str(path)!r} does not exist; {_RETRAIN_HINT}")
    return path


def read_spec(folder: Path) -> ModelSpec:
    """Read and validate ``labels.json``; every file of :data:`MODEL_FILES` must exist."""
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelFolderError(
            f"model folder {str(folder)!r} is missing {', '.join(missing)}; {_RETRAIN_HINT}"
        )
    try:
        raw = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(
            f"{str(folder / 'labels.json')!r} is not valid JSON ({exc}); {_RETRAIN_HINT}"
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelFolderError(
            f"{str(folder / 'labels.json')!r} is not a {FORMAT} label file; {_RETRAIN_HINT}"
        )
    known = set(ModelSpec.__dataclass_fields__)
    try:
        spec = ModelSpec(**{k: v for k, v in raw.items() if k in known})
    except TypeError as exc:  # pragma: no cover - defensive
        raise ModelFolderError(f"bad labels.json in {str(folder)!r}: {exc}") from None
    if sorted(spec.domains) != sorted(DOMAINS) or sorted(spec.complexities) != sorted(COMPLEXITIES):
        raise ModelFolderError(
            f"labels.json in {str(folder)!r} has labels {spec.domains} / {spec.complexities}, "
            f"expected the taxonomy's {list(DOMAINS)} / {list(COMPLEXITIES)}; {_RETRAIN_HINT}"
        )
    if not isinstance(spec.max_len, int) or spec.max_len < 8:
        raise ModelFolderError(f"labels.json in {str(folder)!r}: max_len must be an int >= 8")
    for key in ("domain", "complexity"):
        t = spec.temperatures.get(key, 1.0)
        if not isinstance(t, (int, float)) or not t > 0:
            raise ModelFolderError(
                f"labels.json in {str(folder)!r}: temperature {key!r} must be a positive number"
            )
    return spec


def write_spec(folder: Path, spec: ModelSpec) -> None:
    """Write ``labels.json`` into ``folder``."""
    (folder / "labels.json").write_text(
        json.dumps(spec.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
