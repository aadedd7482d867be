"""Training data: read labelled or raw prompts, auto-label, split, augment.

Accepted inputs (one file, several files, or a folder of them):

- the project corpus (JSON Lines ``{"id", "prompt", "domain", "complexity", "lang",
  "history"?}``, see ``data/LABELLING.md``);
- the older systems' shapes: ``{"text", "label"}`` rows (JSON Lines or a JSON list) and CSV/TSV
  tables with a prompt column (``prompt``/``text``/``query``/``question``) and a ``label``
  (or ``domain``/``complexity``) column.

A ``label`` may be a domain, a complexity, ``domain/complexity`` (also ``:``, ``_``, ``-`` or a
space between), an older complexity name (``easy``/``medium``/``hard``, ``low``/``high``)
or a model name: the older routers labelled each prompt with the model that should answer it
(``gpt-4.1-nano``/``gpt-4.1``/``o4-mini``; ``mistral-small``, ``gemini-flash``, ``qwen``,
``llama-3.3``, ``deepseek-r1``). A model label gives the complexity its tier stands for on its
preset's ladder (:func:`model_label_complexities`: the cheapest tier simple, the strongest
complex, those between moderate); such rows carry no domain, which an auto-labeller supplies
(``--auto-label``). Rows with no domain or complexity can be completed by an auto-labeller
(any :class:`~smartroute_graph.classifiers.base.Classifier`, e.g. the rules).

Outcome rows (``{"prompt", "scores": {model: score}}``, the shape ``smartroute eval`` reads
for strong/weak tables) get their complexity from how much better the strong model did than
the weak one (:class:`OutcomeLabels`): what the router should learn is when the weak model
is enough, on the user's own traffic.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smartroute_graph.classifiers.base import Classifier
from smartroute_graph.core.catalog import PRESETS, preset_catalog
from smartroute_graph.core.errors import SmartRouteError
from smartroute_graph.core.inputs import join_turns
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS

__all__ = [
    "COMPLEXITY_ALIASES",
    "Example",
    "OutcomeLabels",
    "TrainingDataError",
    "augment",
    "auto_label",
    "check_labelled",
    "classification_text",
    "label_counts",
    "load_examples",
    "model_label_complexities",
    "stratified_split",
]

TEXT_FIELDS = ("prompt", "text", "query", "question", "input", "instruction")
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
COMPLEXITY_ALIASES: dict[str, str] = {
    "easy": "simple",
    "low": "simple",
    "medium": "moderate",
    "mid": "moderate",
    "hard": "complex",
    "high": "complex",
}


def model_label_complexities(preset: str | None = None) -> dict[str, str]:
    """The complexity each model label stands for, by its tier on the preset's ladder.

    The complexity each model label stands for: a preset model's name, alias or provider id → its
    tier's place on the preset's ladder (the lowest tier ``simple``, the highest ``complex``, those
    between ``moderate``).

    Args:
        preset: read only this preset's model names; None: every preset's.

    Raises:
        TrainingDataError: ``preset`` is not a preset.
    """
    if preset is not None and preset not in PRESETS:
        raise TrainingDataError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    out: dict[str, str] = {}
    for name in [preset] if preset else list(PRESETS):
        catalog = preset_catalog(name)
        tiers = sorted({spec.tier for spec in catalog.values()})
        for spec in catalog.values():
            rank = tiers.index(spec.tier)
            level = COMPLEXITIES[0] if rank == 0 else COMPLEXITIES[-1]
            if 0 < rank < len(tiers) - 1:
                level = COMPLEXITIES[1]
            for label in (spec.name, *spec.aliases, spec.provider_model_id):
                out.setdefault(label.lower(), level)
    return out


class TrainingDataError(SmartRouteError, ValueError):
    """A training file cannot be read or labelled as given."""


@dataclass(frozen=True)
class Example:
    """One training example: the text the classifier reads and its (possibly missing) labels."""

    text: str
    domain: str | None = None
    complexity: str | None = None
    source: str = ""
    lang: str = ""
    augmented: bool = False


@dataclass(frozen=True)
class OutcomeLabels:
    """Complexity from outcomes: ``gap = scores[strong] - scores[weak]`` (scores in [0, 1]).

    ``gap <= 0`` (the weak model did as well): simple; ``0 < gap < margin``: moderate;
    ``gap >= margin``: complex. With the ``openai`` preset's table that sends simple queries
    to the cheapest model and complex ones to the strongest.
    """

    strong: str
    weak: str
    margin: float = 0.1

    def __post_init__(self) -> None:
        if self.strong == self.weak:
            raise TrainingDataError(f"strong and weak are both {self.strong!r}: name two models")
        if not 0.0 < self.margin <= 1.0:
            raise TrainingDataError(f"the outcome margin must be in (0, 1], got {self.margin}")

    def complexity(self, scores: Any, where: str) -> str:
        """The complexity label of one row's ``scores``."""
        if not isinstance(scores, dict):
            raise TrainingDataError(f"{where}: 'scores' must be an object of model → score")
        values = []
        for model in (self.strong, self.weak):
            value = scores.get(model)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TrainingDataError(
                    f"{where}: no numeric score for {model!r} (the row scores "
                    f"{', '.join(map(repr, scores)) or 'no model'}); check --strong/--weak"
                )
            if not 0.0 <= value <= 1.0:  # also catches NaN
                raise TrainingDataError(
                    f"{where}: the score for {model!r} must be in [0, 1], got {value}; "
                    "rescale the scores (e.g. a 1-10 grade g as (g - 1) / 9)"
                )
            values.append(float(value))
        gap = values[0] - values[1]
        if gap <= 0:
            return "simple"
        return "complex" if gap >= self.margin else "moderate"


def classification_text(prompt: str, history: Sequence[Any] | None = None) -> str:
    """What the classifier reads for a row: the prompt, then the last history turn.

    Built by :func:`smartroute_graph.core.inputs.join_turns` exactly as the router builds it live.
    """
    previous = ""
    if history:
        last = history[-1]
        if isinstance(last, dict):
            last = last.get("content") or last.get("text") or ""
        previous = str(last)
    return join_turns(prompt, previous)


def load_examples(
    paths: str | Path | Sequence[str | Path],
    outcomes: OutcomeLabels | None = None,
    preset: str | None = None,
) -> list[Example]:
    """Read every example from the given files or folders (see the module docstring).

    With ``outcomes``, rows with ``scores`` and no complexity get one from their outcomes; a
    model label is read against ``preset``'s models (None: any preset's).

    Raises:
        TrainingDataError: a path is missing, a file is malformed, has no text column, or a
            label is not one the taxonomy knows; the message names the file and the line.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
            if not found:
                raise TrainingDataError(
                    f"folder {str(path)!r} has no .jsonl, .json, .csv or .tsv training files"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise TrainingDataError(f"training data {str(path)!r} does not exist")
    models = model_label_complexities(preset)
    examples: list[Example] = []
    for file in files:
        examples.extend(_load_file(file, outcomes, models))
    if not examples:
        raise TrainingDataError(
            f"no examples in {', '.join(map(str, files))}: each row needs a prompt/text field"
        )
    return examples


def _load_file(
    path: Path, outcomes: OutcomeLabels | None = None, models: dict[str, str] | None = None
) -> list[Example]:
    suffix = path.suffix.lower()
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TrainingDataError(
            f"{str(path)!r} is not UTF-8 text; save it as UTF-8 JSON Lines or CSV"
        ) from None
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, content, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".json" and content.lstrip().startswith("["):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise TrainingDataError(f"{str(path)!r} is not valid JSON: {exc}") from None
        rows = [(i + 1, row) for i, row in enumerate(data)]
    elif suffix in (".jsonl", ".json"):
        rows = _jsonl_rows(path, content)
    else:
        raise TrainingDataError(
            f"{str(path)!r}: unsupported file type {suffix or '(none)'}; use .jsonl, .json, "
            ".csv or .tsv"
        )
    return [_to_example(path, line, row, outcomes, models or {}) for line, row in rows]


def _jsonl_rows(path: Path, content: str) -> list[tuple[int, Any]]:
    rows = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((line_no, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise TrainingDataError(
                f"{str(path)!r} line {line_no} is not valid JSON ({exc.msg}); each line must "
                'be one object such as {"prompt": "...", "domain": "math", '
                '"complexity": "simple"}'
            ) from None
    return rows


def _csv_rows(path: Path, content: str, delimiter: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(content.splitlines(), delimiter=delimiter)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if not any(f in TEXT_FIELDS for f in fields):
        raise TrainingDataError(
            f"{str(path)!r} has columns {fields or '(none)'}; it needs a prompt column named "
            f"one of {', '.join(TEXT_FIELDS)}"
        )
    rows = []
    for i, row in enumerate(reader, start=2):
        rows.append((i, {(k or "").strip().lower(): v for k, v in row.items()}))
    return rows


def _to_example(
    path: Path,
    line: int,
    row: Any,
    outcomes: OutcomeLabels | None = None,
    models: dict[str, str] | None = None,
) -> Example:
    where = f"{str(path)!r} line {line}"
    if not isinstance(row, dict):
        raise TrainingDataError(f"{where}: expected an object, got {type(row).__name__}")
    text = next((row[f] for f in TEXT_FIELDS if isinstance(row.get(f), str)), None)
    if text is None or not text.strip():
        raise TrainingDataError(
            f"{where}: no prompt text (expected a non-empty field named one of "
            f"{', '.join(TEXT_FIELDS)})"
        )
    history = row.get("history")
    if isinstance(history, str):
        history = [history] if history.strip() else None
    domain = _blank_to_none(row.get("domain"))
    complexity = _blank_to_none(row.get("complexity"))
    label = _blank_to_none(row.get("label"))
    if label is not None:
        d, c = _parse_label(label, where, models or {})
        domain = domain or d
        complexity = complexity or c
    if domain is not None and domain not in DOMAINS:
        raise TrainingDataError(
            f"{where}: unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}"
        )
    if complexity is None and outcomes is not None and "scores" in row:
        complexity = outcomes.complexity(row["scores"], where)
    if complexity is not None:
        complexity = COMPLEXITY_ALIASES.get(complexity, complexity)
        if complexity not in COMPLEXITIES:
            raise TrainingDataError(
                f"{where}: unknown complexity {complexity!r}; expected one of "
                f"{', '.join(COMPLEXITIES)}"
            )
    return Example(
        text=classification_text(text, history if isinstance(history, list) else None),
        domain=domain,
        complexity=complexity,
        source=path.name,
        lang=str(row.get("lang") or ""),
    )


def _blank_to_none(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip().lower()
    return value or None


def _parse_label(label: str, where: str, models: dict[str, str]) -> tuple[str | None, str | None]:
    if label in DOMAINS:
        return label, None
    if label in COMPLEXITIES or label in COMPLEXITY_ALIASES:
        return None, COMPLEXITY_ALIASES.get(label, label)
    if label in models:  # an older router's model label: the tier it stands for
        return None, models[label]
    parts = re.split(r"[/:_\s-]+", label)
    if len(parts) == 2 and parts[0] in DOMAINS:
        c = COMPLEXITY_ALIASES.get(parts[1], parts[1])
        if c in COMPLEXITIES:
            return parts[0], c
    raise TrainingDataError(
        f"{where}: label {label!r} is neither a domain ({', '.join(DOMAINS)}), a complexity "
        f"({', '.join(COMPLEXITIES)}), 'domain/complexity' nor a model name "
        f"({', '.join(sorted(models))}); fix the label, or drop the label column and pass "
        "--auto-label rules"
    )


def auto_label(examples: Sequence[Example], labeller: Classifier) -> list[Example]:
    """Fill missing domains/complexities with ``labeller``'s decisions (batched).

    A known domain is kept, and the complexity is then read from that domain's head.
    """
    missing = [i for i, ex in enumerate(examples) if ex.domain is None or ex.complexity is None]
    out = list(examples)
    for start in range(0, len(missing), 256):
        idx = missing[start : start + 256]
        decisions = labeller.classify([examples[i].text for i in idx])
        for i, decision in zip(idx, decisions, strict=False):
            ex = examples[i]
            domain = ex.domain or decision.domain
            probs = decision.complexity_by_domain.get(domain) or decision.complexity_probs
            complexity = ex.complexity or max(COMPLEXITIES, key=lambda c: probs.get(c, 0.0))
            out[i] = replace(ex, domain=domain, complexity=complexity)
    return out


def check_labelled(examples: Sequence[Example], min_examples: int = 8) -> None:
    """Raise :class:`TrainingDataError` unless every example has a domain and there are enough."""
    unlabelled = sum(ex.domain is None for ex in examples)
    if unlabelled:
        raise TrainingDataError(
            f"{unlabelled} of {len(examples)} examples have no domain label; add labels or "
            "pass --auto-label rules (or llm) to label raw prompts"
        )
    if len(examples) < min_examples:
        raise TrainingDataError(
            f"only {len(examples)} labelled examples; training needs at least {min_examples}"
        )


def stratified_split(
    examples: Sequence[Example], val_fraction: float, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """Split into (train, validation), keeping each (domain, complexity) group's share.

    Every group with at least two examples puts at least one into validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise TrainingDataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for ex in examples:
        groups[(ex.domain or "", ex.complexity or "")].append(ex)
    rng = random.Random(seed)
    train: list[Example] = []
    val: list[Example] = []
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        n_val = round(len(group) * val_fraction)
        n_val = min(max(1, n_val), len(group) - 1) if len(group) >= 2 else 0
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    rng.shuffle(train)
    return train, val


def augment(examples: Iterable[Example], factor: float = 0.5, seed: int = 0) -> list[Example]:
    """The examples plus about ``factor`` noisy copies each (never from evaluation data).

    Copies are lower-cased, stripped of their trailing punctuation, cut after a random share
    of their words (long texts only: the task usually shows early), or prefixed with a polite
    opener, chosen at random.
    """
    rng = random.Random(seed)
    base = list(examples)
    out = list(base)
    openers = ("hey, ", "Hi! ", "please ", "Quick question: ", "can you help? ", "ok so ")
    for ex in base:
        copies = int(factor) + (1 if rng.random() < factor - int(factor) else 0)
        for _ in range(copies):
            kind = rng.randrange(4)
            text = ex.text
            if kind == 0:
                text = text.lower()
            elif kind == 1:
                text = text.rstrip(" ?.!。？")
            elif kind == 2:
                words = text.split(" ")
                if len(words) > 60:
                    keep = int(len(words) * rng.uniform(0.5, 0.9))
                    text = " ".join(words[:keep])
            else:
                text = rng.choice(openers) + text[:1].lower() + text[1:]
            if text and text != ex.text:
                out.append(replace(ex, text=text, augmented=True))
    return out


def label_counts(examples: Sequence[Example]) -> dict[str, dict[str, int]]:
    """Counts per domain and per (domain, complexity), for metrics and the model card."""
    dom = Counter(ex.domain or "?" for ex in examples)
    pair = Counter(f"{ex.domain}/{ex.complexity}" for ex in examples)
    return {"domain": dict(sorted(dom.items())), "domain_complexity": dict(sorted(pair.items()))}
