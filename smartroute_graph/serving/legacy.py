"""The older systems' endpoints, in their shapes.

/route, /route/with-file, /query, /query-compare, /query-specific, /batch-query, /test-selection and
/models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from langchain_core.messages import (
    AIMessage,
)

from smartroute_graph.core.attachments import (
    Attachment,
    AttachmentTooLargeError,
)
from smartroute_graph.core.errors import (
    EmptyQueryError,
    InputError,
    UnknownModelError,
)
from smartroute_graph.core.providers import (
    recording_provider_failures,
)
from smartroute_graph.routing.policy import RoutingDecision
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.auth import request_secrets
from smartroute_graph.serving.calls import (
    OFFLOAD_CHARS,
)
from smartroute_graph.serving.deps import ServerDeps
from smartroute_graph.serving.errors import TooManyQueriesError, exception_payload
from smartroute_graph.serving.schemas import (
    LEGACY_FIELDS,
    BatchRequest,
    CompareRequest,
    QueryRequest,
    RouteRequest,
    SelectionRequest,
    SpecificRequest,
    UnknownFieldError,
    answer_meta,
    answer_usage,
)

__all__ = ["COMPARE_MAX_CHARS", "MAX_BATCH", "add_legacy_routes"]

MAX_BATCH = 100


# /query-compare sends its query to every model it names: a cap on its text, like the batch
# cap on the number of queries.
COMPARE_MAX_CHARS = OFFLOAD_CHARS


_WITH_FILE_FIELDS = frozenset({"prompt", "file", "api_key", "dry_run", "budget_usd"})


def _route_body(message: AIMessage) -> dict[str, Any]:
    meta = answer_meta(message)
    return {
        "response": message.text,
        "model": meta.get("model"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "confidence": meta.get("confidence"),
        "reason": meta.get("reason"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "estimated_cost_usd": meta.get("estimated_cost_usd"),
        "escalated": meta.get("escalated", False),
        "dry_run": bool(meta.get("dry_run", False)),
        "attempts": meta.get("attempts", []),
        "usage": answer_usage(message),
    }


def _query_body(message: AIMessage) -> dict[str, Any]:
    meta = answer_meta(message)
    return {
        "selected_model": meta.get("model"),
        "response": message.text,
        "confidence": meta.get("confidence"),
        "reasoning": meta.get("reason"),
        "domain": meta.get("domain"),
        "complexity": meta.get("complexity"),
        "cost_usd": meta.get("cost_usd", 0.0),
        "escalated": meta.get("escalated", False),
        "usage": answer_usage(message),
    }


def _selection_body(query: str, decision: RoutingDecision) -> dict[str, Any]:
    return {
        "query": query,
        "selected_model": decision.model,
        "decision": decision.model_dump(mode="json"),
    }


def _settings(budget_usd: float | None = None, **extra: Any) -> dict[str, Any]:
    settings = {k: v for k, v in extra.items() if v is not None}
    if budget_usd is not None:
        settings["budget_usd"] = budget_usd
    return settings


def _check_form(form: Mapping[str, Any]) -> None:
    """/route/with-file takes one file and its named fields (plus the older systems')."""
    items = list(form.multi_items()) if hasattr(form, "multi_items") else list(form.items())
    files = [value for key, value in items if key == "file"]
    if len(files) > 1:
        raise InputError(
            f"{len(files)} files were uploaded; /route/with-file accepts one file per request: "
            "send the others in separate requests"
        )
    unknown = sorted({key for key, _ in items} - _WITH_FILE_FIELDS - LEGACY_FIELDS)
    if unknown:
        raise UnknownFieldError(
            f"unknown field '{unknown[0]}': /route/with-file takes "
            f"{', '.join(sorted(_WITH_FILE_FIELDS))}"
        )


def _compare_models(models: Sequence[str] | None, limit: int) -> list[str] | None:
    """The models to compare: at most ``limit`` names, duplicates dropped (order kept)."""
    if models is None:
        return None
    if len(models) > limit:
        raise TooManyQueriesError(
            f"{len(models)} models in one comparison; the limit is {limit}: name each model "
            "once (GET /models lists them)"
        )
    return list(dict.fromkeys(models))


def _not_blank_or_raise(prompt: str) -> None:
    if not prompt.strip():
        raise EmptyQueryError(
            "the prompt is empty: send the question about the file in the 'prompt' field"
        )


def _check_model(router: SmartRouter, name: str) -> None:
    if name not in router.catalog:
        raise UnknownModelError(
            f"unknown model {name!r}; the catalog has: {', '.join(router.catalog)} "
            "(GET /models lists them with prices)"
        )


def _check_batch(count: int, limit: int) -> None:
    if count > limit:
        raise TooManyQueriesError(
            f"{count} queries in one request; the limit is {limit}: split them into "
            f"requests of at most {limit}"
        )


def add_legacy_routes(api: APIRouter, deps: ServerDeps) -> None:
    """Add the older systems' endpoints to ``api``.

    /models, /route, /route/with-file, /query, /query-compare, /query-specific, /batch-query and
    /test-selection.
    """
    router, access, calls, token = deps.router, deps.access, deps.calls, deps.token
    limits, max_batch, batch_concurrency = deps.limits, deps.max_batch, deps.batch_concurrency

    @api.get("/models", summary="The catalog with prices, weakest first")
    async def models() -> dict[str, Any]:
        catalog = router.catalog
        return {
            "preset": router.policy_name,
            "ladder": list(catalog.ladder),
            "models": [
                {**catalog[name].model_dump(), "provider_model_id": catalog[name].provider_model_id}
                for name in catalog.ladder
            ],
        }

    @api.post("/route", summary="Route a prompt and answer it")
    async def route(body: RouteRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        settings = _settings(
            body.budget_usd, dry_run=body.dry_run or None, temperature=body.temperature
        )
        message = await calls.invoke(body.prompt, size=len(body.prompt), **grant, **settings)
        result = _route_body(message)
        meta = answer_meta(message)
        answered = meta.get("model")
        used = next((a for a in reversed(meta.get("attempts") or []) if a.get("ok")), None)
        if body.temperature is not None and used is not None and used.get("temperature") is None:
            spec = router.catalog.get(answered) if isinstance(answered, str) else None
            why = (
                "is a reasoning model and takes none"
                if spec is not None and spec.reasoning
                else "has no temperature setting"
            )
            result["warnings"] = [f"temperature not applied: {answered} {why}"]
        return result

    @api.post("/route/with-file", summary="Route a prompt with an image, PDF or text file")
    async def route_with_file(
        request: Request,
        prompt: Annotated[str, Form(description="the question about the file")],
        file: Annotated[UploadFile, File(description="an image, a PDF or a UTF-8 text file")],
        api_key: Annotated[str | None, Form()] = None,
        dry_run: Annotated[bool, Form()] = False,
        budget_usd: Annotated[float | None, Form(gt=0)] = None,
    ) -> dict[str, Any]:
        _check_form(await request.form())
        grant = access.grant(request, api_key)
        _not_blank_or_raise(prompt)
        name = file.filename or "upload"
        if file.size is not None and file.size > limits.max_bytes:
            raise AttachmentTooLargeError(
                f"attachment {name!r} is {file.size / 1e6:.1f} MB; the limit is "
                f"{limits.max_bytes / 1e6:.1f} MB: send a smaller file (compress images, or "
                "split the PDF)"
            )
        data = await file.read(limits.max_bytes + 1)
        # PDF parsing is CPU work: keep it off the event loop.
        attachment = await asyncio.to_thread(Attachment.from_bytes, data, name=name, limits=limits)
        settings = _settings(budget_usd, dry_run=dry_run or None)
        message = await calls.invoke(
            {"query": prompt, "attachments": [attachment]},
            size=len(prompt) + len(attachment.text or ""),
            **grant,
            **settings,
        )
        result = _route_body(message)
        result["attachment"] = attachment.model_dump(exclude={"data_base64", "text"})
        return result

    @api.post("/query", summary="Answer a query (the second older system's shape)")
    async def query(body: QueryRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        message = await calls.invoke(
            body.query, size=len(body.query), **grant, **_settings(body.budget_usd)
        )
        return _query_body(message)

    @api.post("/query-compare", summary="Ask several models and compare their answers")
    async def query_compare(body: CompareRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        names = _compare_models(body.models, max_batch)
        if len(body.query) > COMPARE_MAX_CHARS:
            raise TooManyQueriesError(
                f"the query is {len(body.query):,} characters; /query-compare takes at most "
                f"{COMPARE_MAX_CHARS:,} (it sends the query to every model): use /route or "
                "/query for longer input"
            )
        for name in names or ():
            _check_model(router, name)
        report = await calls.within_deadline(
            router.acompare(body.query, models=names, **grant), "the comparison"
        )
        return report.model_dump(mode="json")

    @api.post("/query-specific", summary="Answer a query with one given model")
    async def query_specific(body: SpecificRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        _check_model(router, body.model)
        message = await calls.invoke(body.query, size=len(body.query), **grant, model=body.model)
        return {**_query_body(message), "forced": True}

    @api.post("/batch-query", summary=f"Answer up to {max_batch} queries, results in order")
    async def batch_query(body: BatchRequest, request: Request) -> dict[str, Any]:
        _check_batch(len(body.queries), max_batch)
        grant = access.grant(request, body.api_key)
        secrets = request_secrets(request, token)
        own_key = bool(getattr(request.state, "brought_key", False))
        gate = asyncio.Semaphore(batch_concurrency)
        settings = _settings(body.budget_usd)

        async def one(index: int, text: str) -> dict[str, Any]:
            async with gate:
                # Each query's provider failures are its own (its status and Retry-After).
                with recording_provider_failures() as failures:
                    try:
                        message = await calls.invoke(text, size=len(text), **grant, **settings)
                    except Exception as exc:
                        status, error, _ = exception_payload(
                            exc, secrets, failures=failures, own_key=own_key
                        )
                        return {
                            "index": index,
                            "query": text,
                            "ok": False,
                            "status": status,
                            **error,
                        }
            return {"index": index, "query": text, "ok": True, **_query_body(message)}

        results = await asyncio.gather(*(one(i, q) for i, q in enumerate(body.queries)))
        return {
            "count": len(results),
            "succeeded": sum(1 for r in results if r["ok"]),
            "failed": sum(1 for r in results if not r["ok"]),
            "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in results), 8),
            "results": results,
        }

    @api.post("/test-selection", summary="Routing decisions only: no model call, no key")
    async def test_selection(body: SelectionRequest, request: Request) -> dict[str, Any]:
        # No answer is generated, but an LLM classifier would spend someone's key.
        grant = access.grant(request, None)
        if (body.query is None) == (body.queries is None):
            raise InputError(
                "send either 'query' (one string) or 'queries' (a list of strings), not both "
                "and not neither"
            )
        if body.query is not None:
            decision = await calls.route(body.query, size=len(body.query), **grant)
            return _selection_body(body.query, decision)
        assert body.queries is not None
        _check_batch(len(body.queries), max_batch)
        gate = asyncio.Semaphore(batch_concurrency)

        async def one(text: str) -> dict[str, Any]:
            async with gate:
                return _selection_body(text, await calls.route(text, size=len(text), **grant))

        return {"results": await asyncio.gather(*(one(q) for q in body.queries))}
