"""The evaluation as a LangSmith experiment (``langsmith.evaluate``), online or fully offline.

Each example is one prompt; the target routes it (``router.route``: the decision, no model
call) and returns the decision. Per-example evaluators: ``domain_correct`` and
``complexity_correct`` (labelled sets), ``chose_strong`` and ``routed_score`` (strong/weak
tables: whether the router picked a model other than the catalog's cheapest, and the table's
score for the side it picked), ``cost`` (the decision's estimated cost). Summary evaluators:
``macro_f1`` (domain), ``apgr``, ``cpt50`` (strong/weak tables: ``complexity_score`` swept as
in :mod:`analysis`), ``strong_share`` and ``total_cost``.

Online (``upload=True``, the default when ``LANGSMITH_API_KEY`` is set) the file becomes a
LangSmith dataset (reused by name when it exists) and the experiment is uploaded; the target
run of each example carries the decision as metadata and tags (see :mod:`tracing`), so the
experiment can be filtered by domain, complexity and model.

Offline (``upload=False``) nothing touches the network: the examples are built in memory
(``langsmith.schemas.Example`` with stable ids), ``upload_results=False``, tracing is disabled
inside the target, and the client's HTTP session refuses every request.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from langchain_core.messages import HumanMessage
from langsmith import Client
from langsmith.evaluation import evaluate
from langsmith.run_helpers import get_current_run_tree, tracing_context
from langsmith.schemas import Dataset, Example, ExampleCreate

from smartroute_graph.core.errors import SmartRouteError
from smartroute_graph.core.taxonomy import DOMAINS
from smartroute_graph.evaluation.datasets import EvalDataset, EvalRow, load_dataset
from smartroute_graph.evaluation.metrics import apgr, cpt, macro_f1, routing_curve
from smartroute_graph.evaluation.runner import RouteSettings
from smartroute_graph.graph.tracing import annotate_run
from smartroute_graph.runnable import SmartRouter

__all__ = [
    "ExperimentSummary",
    "LangSmithOfflineError",
    "dataset_from_file",
    "example_id",
    "offline_client",
    "run_experiment",
    "to_examples",
    "upload_dataset",
]

_NAMESPACE = uuid.UUID("6f1d7a52-51e4-4d0e-9a53-2f0f4d1b7c11")  # smartroute example ids
# langsmith renamed an example's "outputs" to "reference_outputs" (the old name warns).
_OUTPUTS_KEY = (
    "reference_outputs" if "reference_outputs" in ExampleCreate.model_fields else "outputs"
)


class LangSmithOfflineError(SmartRouteError):
    """Something tried to reach LangSmith during an offline evaluation."""


class _NoNetworkSession(requests.Session):
    """An HTTP session that refuses every request (the offline client's)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        raise LangSmithOfflineError(
            f"offline evaluation tried to call LangSmith ({method!r} {url!r}); set "
            "LANGSMITH_API_KEY and pass --langsmith to upload"
        )


def offline_client() -> Client:
    """A LangSmith client that cannot reach the network (every request raises)."""
    return Client(
        api_url="http://localhost",
        api_key="offline",
        session=_NoNetworkSession(),
        auto_batch_tracing=False,
        info={},
    )


def example_id(dataset_name: str, row: EvalRow) -> uuid.UUID:
    """A stable example id for a row (the same file gives the same ids every run)."""
    return uuid.uuid5(_NAMESPACE, f"{dataset_name}\x00{row.id}")


def _inputs(row: EvalRow) -> dict[str, Any]:
    inputs: dict[str, Any] = {"prompt": row.prompt}
    if row.history:
        inputs["history"] = list(row.history)
    return inputs


def _reference(dataset: EvalDataset, row: EvalRow) -> dict[str, Any]:
    if dataset.kind == "labels":
        return {k: v for k, v in (("domain", row.domain), ("complexity", row.complexity)) if v}
    out: dict[str, Any] = {"scores": dict(row.scores or {})}
    if dataset.kind == "strong-weak":
        out.update(weak_model=dataset.weak, strong_model=dataset.strong)
    if row.costs:
        out["costs"] = dict(row.costs)
    return out


def to_examples(dataset: EvalDataset, name: str | None = None) -> list[Example]:
    """The rows as in-memory ``langsmith.schemas.Example`` objects with stable ids."""
    name = name or dataset.name
    dataset_id = uuid.uuid5(_NAMESPACE, f"dataset\x00{name}")
    created = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Example(
            id=example_id(name, row),
            dataset_id=dataset_id,
            inputs=_inputs(row),
            outputs=_reference(dataset, row),
            metadata={"source": row.source, "row_id": row.id, "kind": dataset.kind},
            created_at=created,
        )
        for row in dataset.rows
    ]


def dataset_from_file(
    path: str | Path,
    client: Client,
    name: str,
    *,
    kind: str = "auto",
    limit: int | None = None,
    description: str | None = None,
) -> Dataset:
    """Create a LangSmith dataset ``name`` from a local evaluation file.

    The file's shapes are in :mod:`datasets`. Each row becomes one example, with a stable id, the
    prompt (and history) as inputs and the labels or outcome scores as reference outputs.
    """
    dataset = load_dataset(path, kind, limit=limit)
    return upload_dataset(dataset, client, name, description=description)


def upload_dataset(
    dataset: EvalDataset, client: Client, name: str, *, description: str | None = None
) -> Dataset:
    """Create a LangSmith dataset ``name`` holding ``dataset``'s rows.

    See :func:`dataset_from_file`.
    """
    source = dataset.path.name if dataset.path else dataset.name
    created = client.create_dataset(
        name,
        description=description
        or f"smartroute {dataset.kind} evaluation set from {source} ({len(dataset.rows)} rows)",
        metadata={"smartroute_kind": dataset.kind, "source_file": source},
    )
    client.create_examples(
        dataset_id=created.id,
        examples=[
            {
                "id": example_id(name, row),
                "inputs": _inputs(row),
                _OUTPUTS_KEY: _reference(dataset, row),
                "metadata": {"source": row.source, "row_id": row.id, "kind": dataset.kind},
            }
            for row in dataset.rows
        ],
    )
    return created


@dataclass
class ExperimentSummary:
    """What an experiment measured."""

    experiment_name: str
    uploaded: bool
    examples: int
    feedback: dict[str, float]
    """Mean of each per-example evaluator's score."""
    summary: dict[str, float] = field(default_factory=dict)
    """Each summary evaluator's score."""
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "experiment_name": self.experiment_name,
            "uploaded": self.uploaded,
            "examples": self.examples,
            "feedback": self.feedback,
            "summary": self.summary,
            "url": self.url,
        }


def _label_correct(label: str) -> Callable[..., dict[str, Any]]:
    """A per-example evaluator scoring 1.0 when the router's ``label`` matches the gold one."""
    key = f"{label}_correct"

    def evaluator(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
        gold = reference_outputs.get(label)
        return {"key": key, "score": None if gold is None else float(outputs[label] == gold)}

    evaluator.__name__ = evaluator.__qualname__ = key
    return evaluator


def _evaluators(dataset: EvalDataset) -> list[Callable[..., dict[str, Any]]]:
    evaluators: list[Callable[..., dict[str, Any]]] = []
    if dataset.kind == "labels":
        if any(r.domain for r in dataset.rows):
            evaluators.append(_label_correct("domain"))
        if any(r.complexity for r in dataset.rows):
            evaluators.append(_label_correct("complexity"))
    if dataset.kind in ("strong-weak", "multi-model"):

        def chose_strong(outputs: dict[str, Any]) -> dict[str, Any]:
            return {"key": "chose_strong", "score": float(outputs["strong"])}

        evaluators.append(chose_strong)
    if dataset.kind == "strong-weak":

        def routed_score(
            outputs: dict[str, Any], reference_outputs: dict[str, Any]
        ) -> dict[str, Any]:
            side = "strong_model" if outputs["strong"] else "weak_model"
            return {
                "key": "routed_score",
                "score": float(reference_outputs["scores"][reference_outputs[side]]),
            }

        evaluators.append(routed_score)

    def cost(outputs: dict[str, Any]) -> dict[str, Any]:
        return {"key": "cost", "score": float(outputs["estimated_cost_usd"])}

    evaluators.append(cost)
    return evaluators


def _summary_evaluators(
    dataset: EvalDataset, record: dict[str, float]
) -> list[Callable[..., dict[str, Any]]]:
    """Summary evaluators; each also writes its score into ``record``.

    ``record`` is read back after the run, so the figures do not depend on langsmith's result
    internals.
    """

    def result(key: str, score: float) -> dict[str, Any]:
        record[key] = score
        return {"key": key, "score": score}

    out: list[Callable[..., dict[str, Any]]] = []
    if dataset.kind == "labels" and any(r.domain for r in dataset.rows):

        def domain_macro_f1(
            outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]
        ) -> dict[str, Any]:
            pairs = [
                (r["domain"], o["domain"])
                for o, r in zip(outputs, reference_outputs, strict=True)
                if r.get("domain")
            ]
            gold = [g for g, _ in pairs]
            present = [d for d in DOMAINS if d in set(gold)]
            return result("macro_f1", macro_f1(gold, [p for _, p in pairs], present))

        out.append(domain_macro_f1)
    if dataset.kind == "strong-weak":

        def curve(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> Any:
            weak = [r["scores"][r["weak_model"]] for r in reference_outputs]
            strong = [r["scores"][r["strong_model"]] for r in reference_outputs]
            return routing_curve([o["complexity_score"] for o in outputs], weak, strong)

        def apgr_summary(
            outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]
        ) -> dict[str, Any]:
            return result("apgr", apgr(curve(outputs, reference_outputs)))

        def cpt50_summary(
            outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]
        ) -> dict[str, Any]:
            return result("cpt50", cpt(curve(outputs, reference_outputs), 0.5))

        out.extend([apgr_summary, cpt50_summary])

    def strong_share(outputs: list[dict[str, Any]]) -> dict[str, Any]:
        return result("strong_share", sum(bool(o["strong"]) for o in outputs) / len(outputs))

    def total_cost(outputs: list[dict[str, Any]]) -> dict[str, Any]:
        return result("total_cost", float(sum(o["estimated_cost_usd"] for o in outputs)))

    out.extend([strong_share, total_cost])
    return out


def _target(
    router: SmartRouter, settings: RouteSettings, *, traced: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if settings.complexity_cutoffs is not None:
        kwargs["complexity_cutoffs"] = settings.complexity_cutoffs
    if settings.confidence_threshold is not None:
        kwargs["confidence_threshold"] = settings.confidence_threshold
    cheapest = router.catalog.ladder[0]

    def route(inputs: dict[str, Any]) -> dict[str, Any]:
        messages = [HumanMessage(content=t) for t in [*inputs.get("history", []), inputs["prompt"]]]
        if traced:
            decision = router.route(messages, **kwargs)
            run = get_current_run_tree()
            if run is not None:  # the experiment's root run: filterable by the decision
                annotate_run(run, decision, dry_run=True)
        else:
            # The graph would otherwise try to send its own runs to LangSmith.
            with tracing_context(enabled=False):
                decision = router.route(messages, **kwargs)
        return {
            "domain": decision.domain,
            "complexity": decision.complexity,
            "complexity_score": decision.complexity_score,
            "confidence": decision.confidence,
            "model": decision.model,
            "strong": decision.model != cheapest,
            "estimated_cost_usd": decision.estimated_cost_usd,
            "reason": decision.reason,
        }

    return route


def run_experiment(
    dataset: EvalDataset,
    router: SmartRouter,
    *,
    experiment_prefix: str = "smartroute",
    upload: bool | None = None,
    client: Client | None = None,
    dataset_name: str | None = None,
    settings: RouteSettings | None = None,
    max_concurrency: int | None = 0,
    metadata: Mapping[str, Any] | None = None,
) -> ExperimentSummary:
    """Run the evaluation of ``router`` on ``dataset`` as a LangSmith experiment.

    ``upload`` defaults to whether ``LANGSMITH_API_KEY`` is set. Offline, ``client`` defaults
    to :func:`offline_client` and no request is made.
    """
    if upload is None:
        upload = bool(os.environ.get("LANGSMITH_API_KEY"))
    settings = settings or RouteSettings()
    sampled = dataset.total_rows and len(dataset.rows) < dataset.total_rows
    name = dataset_name or (
        f"smartroute-{dataset.name}" + (f"-sample-{len(dataset.rows)}" if sampled else "")
    )
    data: str | Sequence[Example]
    if upload:
        client = client or Client()
        if client.has_dataset(dataset_name=name):
            data = name  # reused as it is: delete it in LangSmith to upload the file again
        else:
            data = upload_dataset(dataset, client, name).name
    else:
        client = client or offline_client()
        data = to_examples(dataset, name)
    summary: dict[str, float] = {}
    experiment_metadata = {
        "classifier": router.classifier.name,
        "preset": router.policy_name,
        "dataset_kind": dataset.kind,
        "complexity_cutoffs": list(settings.complexity_cutoffs)
        if settings.complexity_cutoffs
        else None,
        "confidence_threshold": settings.confidence_threshold,
        **(metadata or {}),
    }
    printed = io.StringIO()
    # langsmith prints the experiment's name (and link) to standard output; keep stdout for
    # the caller's report and read the name from it.
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        # "upload_results is in beta": the offline path is the point of this module.
        warnings.simplefilter("ignore")
        results = evaluate(
            _target(router, settings, traced=upload),
            data=data,
            evaluators=_evaluators(dataset),
            # langsmith's type names only the (runs, examples) form; it also runs the
            # (outputs, reference_outputs) form used here.
            summary_evaluators=_summary_evaluators(dataset, summary),  # type: ignore[arg-type]
            experiment_prefix=experiment_prefix,
            metadata=experiment_metadata,
            max_concurrency=max_concurrency,
            client=client,
            upload_results=upload,
        )
    totals: dict[str, list[float]] = {}
    errors: list[str] = []
    count = 0
    for row in results:
        count += 1
        if row["run"].error:
            errors.append(f"example {row['example'].id}: {row['run'].error.splitlines()[0]}")
        for item in row["evaluation_results"]["results"]:
            if item.score is not None:
                totals.setdefault(item.key, []).append(float(item.score))
    if errors:
        # langsmith logs a failing target and goes on; a router that cannot route an example
        # is a finding the caller must see.
        raise SmartRouteError(
            f"the router failed on {len(errors)} of {count} examples, e.g. {errors[0]}"
        )
    url = None
    if upload:
        try:
            url = results.url
        except Exception:  # the link is a convenience; the experiment is uploaded anyway
            url = None
    # Offline, langsmith renames the in-memory experiment at random once it has run; the name
    # it announced at the start (prefix + suffix) is the one the user saw.
    experiment_name = results.experiment_name
    announced = re.search(r"experiment: (?:%s )?'?([^'\s]+)'?", printed.getvalue())
    if not upload and announced:
        experiment_name = announced.group(1)
    return ExperimentSummary(
        experiment_name=experiment_name,
        uploaded=upload,
        examples=count,
        feedback={k: sum(v) / len(v) for k, v in totals.items()},
        summary=summary,
        url=url,
    )
