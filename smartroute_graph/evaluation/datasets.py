"""Evaluation data: labelled prompt sets and outcome tables, read from JSON Lines.

Three kinds, told apart by their fields (``kind="auto"``):

- ``labels``: rows with ``prompt`` and a gold ``domain`` and/or ``complexity``, e.g.
  ``../shared/eval/domain_probes.jsonl`` or the project corpus (a folder of ``*.jsonl``; rows
  may carry ``history``, earlier user turns, oldest first).
- ``strong-weak``: rows with ``scores`` for exactly two models, e.g. RouteLLM's
  ``strong_weak_*.jsonl``. The strong model is the one with the higher mean score unless
  named (``strong=``/``weak=``).
- ``multi-model``: rows with ``scores`` for three or more models, plus prices
  (``{model: {"input_per_1m", "output_per_1m"}}``, by default the file ``<stem>_prices.json``
  beside the table). A row may carry its own ``costs`` (``{model: usd}``); otherwise a
  model's cost is estimated from the prompt's tokens and a fixed answer length.

Every row needs ``prompt``; ``id`` and ``source`` are used when present.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from smartroute_graph.core.errors import SmartRouteError
from smartroute_graph.core.inputs import join_turns
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS

__all__ = [
    "DatasetKind",
    "EvalDataError",
    "EvalDataset",
    "EvalRow",
    "ModelPrice",
    "load_dataset",
    "load_prices",
    "read_rows",
    "subsample",
]

DatasetKind = Literal["labels", "strong-weak", "multi-model"]
KINDS: tuple[str, ...] = ("auto", "labels", "strong-weak", "multi-model")


class EvalDataError(SmartRouteError, ValueError):
    """An evaluation file cannot be read as the kind asked for.

    The message names the file, the line and what to fix.
    """


@dataclass(frozen=True)
class EvalRow:
    """One prompt and what is known about it."""

    id: str
    prompt: str
    source: str = ""
    history: tuple[str, ...] = ()
    domain: str | None = None
    complexity: str | None = None
    scores: Mapping[str, float] | None = None
    costs: Mapping[str, float] | None = None

    @property
    def text(self) -> str:
        """What the classifier reads, as the router builds it for a live conversation."""
        return join_turns(self.prompt, self.history[-1] if self.history else None)

    @property
    def turns(self) -> list[str]:
        """The user turns, oldest first (the history, then the prompt)."""
        return [*self.history, self.prompt]


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million input and output tokens."""

    input_per_m: float
    output_per_m: float


@dataclass
class EvalDataset:
    """Rows of one kind, with the outcome models and prices when there are any."""

    name: str
    kind: DatasetKind
    rows: list[EvalRow]
    path: Path | None = None
    models: tuple[str, ...] = ()
    """Outcome models: ``(weak, strong)`` for strong-weak tables, all of them otherwise."""
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    total_rows: int = 0
    """Rows in the file before ``limit`` took a sample."""

    @property
    def weak(self) -> str:
        """The weak model of a strong-weak table."""
        self._need("strong-weak")
        return self.models[0]

    @property
    def strong(self) -> str:
        """The strong model of a strong-weak table."""
        self._need("strong-weak")
        return self.models[1]

    def _need(self, kind: str) -> None:
        if self.kind != kind:
            raise EvalDataError(f"{self.name} is a {self.kind} set, not a {kind} table")


def read_rows(path: str | Path) -> list[tuple[str, int, dict[str, Any]]]:
    """``(file, line, row)`` for every row of a JSON Lines file, a JSON list, or a folder.

    A folder's ``.jsonl`` files are read in name order.
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix == ".jsonl")
        if not files:
            raise EvalDataError(f"folder {str(source)!r} has no .jsonl files")
    elif source.is_file():
        files = [source]
    else:
        raise EvalDataError(f"evaluation data {str(source)!r} does not exist")
    out: list[tuple[str, int, dict[str, Any]]] = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json" and text.lstrip().startswith("["):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{file}: not valid JSON ({exc.msg})") from None
            for number, row in enumerate(data, 1):
                out.append((str(file), number, _check_object(row, file, number)))
            continue
        # Split on "\n" only: str.splitlines() also breaks at U+2028, U+0085, form feeds...,
        # which JSON strings may hold unescaped.
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{file}:{number}: not valid JSON ({exc.msg})") from None
            out.append((str(file), number, _check_object(row, file, number)))
    if not out:
        raise EvalDataError(f"{source} has no rows")
    return out


def _check_object(row: Any, file: Path, number: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise EvalDataError(f"{file}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def load_prices(path: str | Path) -> dict[str, ModelPrice]:
    """Read prices as ``{model: {"input_per_1m", "output_per_1m"}}``.

    The catalog's ``input_price_per_m``/``output_price_per_m`` names are accepted too.
    """
    file = Path(path)
    if not file.is_file():
        raise EvalDataError(f"prices file {str(file)!r} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvalDataError(f"prices file {file}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise EvalDataError(f"prices file {file}: expected an object {{model: prices}}")
    prices: dict[str, ModelPrice] = {}
    for model, entry in data.items():
        if not isinstance(entry, Mapping):
            raise EvalDataError(f"prices file {file}: {model!r} needs an object of prices")
        try:
            prices[model] = ModelPrice(
                input_per_m=float(_first(entry, "input_per_1m", "input_price_per_m", "input")),
                output_per_m=float(_first(entry, "output_per_1m", "output_price_per_m", "output")),
            )
        except (KeyError, TypeError, ValueError):
            raise EvalDataError(
                f"prices file {file}: {model!r} needs numeric 'input_per_1m' and "
                f"'output_per_1m' (got keys {sorted(entry)})"
            ) from None
    return prices


def _first(entry: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in entry:
            return entry[key]
    raise KeyError(keys[0])


def _detect(rows: Sequence[tuple[str, int, dict[str, Any]]], name: str) -> DatasetKind:
    first = rows[0][2]
    scores = first.get("scores")
    if isinstance(scores, Mapping):
        return "strong-weak" if len(scores) == 2 else "multi-model"
    if "domain" in first or "complexity" in first:
        return "labels"
    raise EvalDataError(
        f"{name}: cannot tell what to evaluate: rows need gold labels ('domain' and/or "
        f"'complexity') or outcome 'scores' {{model: score}} (first row has keys "
        f"{sorted(first)}); to classify unlabelled prompts use `smartroute classify`"
    )


def subsample(items: Sequence[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` items, evenly spread over the input and in its order; deterministic.

    Spreading them means a sample of a folder read file by file still covers every file.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        raise EvalDataError(f"--limit must be positive, got {limit}")
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def load_dataset(
    path: str | Path,
    kind: str = "auto",
    *,
    prices: str | Path | None = None,
    strong: str | None = None,
    weak: str | None = None,
    limit: int | None = None,
) -> EvalDataset:
    """Read an evaluation file (or corpus folder) as ``kind`` (see the module docstring).

    Raises:
        EvalDataError: the file is missing or malformed, a label is not in the taxonomy, a
            row lacks what its kind needs, or a multi-model table has no prices.
    """
    if kind not in KINDS:
        raise EvalDataError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    source = Path(path)
    raw = read_rows(source)
    name = source.stem if source.is_file() else source.name
    resolved: DatasetKind = _detect(raw, name) if kind == "auto" else kind  # type: ignore[assignment]
    total = len(raw)
    raw = subsample(raw, limit)
    rows = [_row(resolved, file, number, row) for file, number, row in raw]
    dataset = EvalDataset(name=name, kind=resolved, rows=rows, path=source, total_rows=total)
    if resolved == "labels":
        return dataset
    models = tuple(rows[0].scores or {})
    for file, number, row in raw:
        found = tuple(row["scores"])
        if set(found) != set(models):
            raise EvalDataError(
                f"{file}:{number}: scores name models {sorted(found)}, but the first row names "
                f"{sorted(models)}; every row of an outcome table needs the same models"
            )
    if resolved == "strong-weak":
        if len(models) != 2:
            raise EvalDataError(
                f"{name}: a strong-weak table needs scores for exactly 2 models, found "
                f"{len(models)} ({', '.join(models)}); use --kind multi-model"
            )
        dataset.models = _strong_weak_order(rows, models, strong, weak, name)
    else:
        dataset.models = models
        prices_path = Path(prices) if prices else source.with_name(f"{source.stem}_prices.json")
        if not prices_path.is_file() and not all(r.costs for r in rows):
            raise EvalDataError(
                f"{name}: a multi-model table needs prices: pass --prices FILE "
                f'({{model: {{"input_per_1m", "output_per_1m"}}}}); {prices_path} does '
                "not exist and not every row has 'costs'"
            )
        if prices_path.is_file():
            dataset.prices = load_prices(prices_path)
            missing = [m for m in models if m not in dataset.prices]
            if missing:
                raise EvalDataError(
                    f"prices file {prices_path} has no prices for {', '.join(missing)}"
                )
    return dataset


def _strong_weak_order(
    rows: Sequence[EvalRow],
    models: tuple[str, ...],
    strong: str | None,
    weak: str | None,
    name: str,
) -> tuple[str, str]:
    for given in (strong, weak):
        if given is not None and given not in models:
            raise EvalDataError(
                f"{name}: model {given!r} is not in the table; it has {', '.join(models)}"
            )
    if strong is not None:
        return (next(m for m in models if m != strong), strong)
    if weak is not None:
        return (weak, next(m for m in models if m != weak))
    # By definition the strong model is the better one on average.
    means = {m: sum((r.scores or {})[m] for r in rows) / len(rows) for m in models}
    low, high = sorted(models, key=lambda m: (means[m], m))
    return (low, high)


def _row(kind: DatasetKind, file: str, number: int, row: dict[str, Any]) -> EvalRow:
    where = f"{file}:{number}"
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise EvalDataError(f'{where}: needs a non-empty "prompt" string (keys: {sorted(row)})')
    history_raw = row.get("history") or []
    if not isinstance(history_raw, list):
        raise EvalDataError(f'{where}: "history" must be a list of earlier user turns')
    history = tuple(
        str(h.get("content") or h.get("text") or "") if isinstance(h, Mapping) else str(h)
        for h in history_raw
    )
    domain = row.get("domain")
    complexity = row.get("complexity")
    if domain is not None and domain not in DOMAINS:
        raise EvalDataError(
            f"{where}: unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}"
        )
    if complexity is not None and complexity not in COMPLEXITIES:
        raise EvalDataError(
            f"{where}: unknown complexity {complexity!r}; expected one of {', '.join(COMPLEXITIES)}"
        )
    scores = _numbers(row.get("scores"), "scores", where) if kind != "labels" else None
    if kind == "labels" and domain is None and complexity is None:
        raise EvalDataError(f'{where}: a labelled row needs "domain" and/or "complexity"')
    if kind != "labels" and not scores:
        raise EvalDataError(f'{where}: an outcome row needs "scores" {{model: score}}')
    costs = _numbers(row.get("costs"), "costs", where) if row.get("costs") else None
    return EvalRow(
        id=str(row.get("id", f"{Path(file).stem}-{number}")),
        prompt=prompt,
        # The corpus has no source; its language is the useful breakdown there.
        source=str(row.get("source") or (f"lang:{row['lang']}" if row.get("lang") else "")),
        history=history,
        domain=domain,
        complexity=complexity,
        scores=scores,
        costs=costs,
    )


def _numbers(value: Any, name: str, where: str) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EvalDataError(f'{where}: "{name}" must be an object {{model: number}}')
    out: dict[str, float] = {}
    for model, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise EvalDataError(f'{where}: "{name}".{model} must be a number, got {number!r}')
        out[str(model)] = float(number)
    return out
