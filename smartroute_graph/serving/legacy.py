"""The older systems' endpoints, in their shapes.

/route, /route/with-file, /query, /query-compare, /query-specific, /batch-query, /test-selection and
/models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from smartroute_graph.core.attachments import (
    Attachment,
    AttachmentLimits,
    AttachmentTooLargeError,
)
from smartroute_graph.core.errors import (
    AttachmentError,
    EmptyQueryError,
    InputError,
    UnknownModelError,
)
from smartroute_graph.core.providers import (
    recording_provider_failures,
)
from smartroute_graph.runnable import SmartRouter
from smartroute_graph.serving.auth import request_secrets
from smartroute_graph.serving.calls import (
    OFFLOAD_CHARS,
)
from smartroute_graph.serving.deps import ServerDeps
from smartroute_graph.serving.errors import TooManyQueriesError, exception_payload
from smartroute_graph.serving.legacy_shapes import (
    SAMPLE_PROMPTS,
    compare_body,
    query_body,
    route_body,
    selection_body,
)
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
    read_synonyms,
)

__all__ = ["COMPARE_MAX_CHARS", "MAX_BATCH", "add_legacy_routes"]

MAX_BATCH = 100


# /query-compare sends its query to every model it names: a cap on its text, like the batch
# cap on the number of queries.
COMPARE_MAX_CHARS = OFFLOAD_CHARS


_WITH_FILE_FIELDS = frozenset({"prompt", "file", "api_key", "temperature", "dry_run", "budget_usd"})


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
    # ``query`` is the second router's name of ``prompt`` (see :func:`_form_fields`).
    unknown = sorted({key for key, _ in items} - _WITH_FILE_FIELDS - LEGACY_FIELDS - {"query"})
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


def _form_fields(**given: str | None) -> dict[str, str]:
    """The form's text fields under this API's names, as in the JSON bodies.

    The form's text fields under this API's names (``query`` → ``prompt``, ``openai_api_key`` →
    ``api_key``), as in the JSON bodies.
    """
    try:
        return read_synonyms(
            {k: v for k, v in given.items() if v is not None}, {"prompt", "api_key"}
        )
    except ValueError as exc:
        raise UnknownFieldError(str(exc)) from None


def _with_warnings(
    result: dict[str, Any], router: SmartRouter, message: Any, temperature: float | None
) -> dict[str, Any]:
    """``result``, with a warning when the asked temperature was not applied.

    ``result``, with a warning when a temperature was asked for and the answering model took none (a
    reasoning model).
    """
    meta = answer_meta(message)
    answered = meta.get("model")
    used = next((a for a in reversed(meta.get("attempts") or []) if a.get("ok")), None)
    if temperature is None or used is None or used.get("temperature") is not None:
        return result
    spec = router.catalog.get(answered) if isinstance(answered, str) else None
    why = (
        "is a reasoning model and takes none"
        if spec is not None and spec.reasoning
        else "has no temperature setting"
    )
    return {**result, "warnings": [f"temperature not applied: {answered} {why}"]}


async def _read_upload(
    file: UploadFile, limits: AttachmentLimits
) -> tuple[Attachment | None, str | None]:
    """The uploaded file as an attachment, or (None, why) when it cannot be read.

    The first router's clients expect an unreadable file reported in ``file_processing_error``, the
    prompt still answered. A file over the size limit is still refused (413).
    """
    name = file.filename or "upload"
    if file.size is not None and file.size > limits.max_bytes:
        raise AttachmentTooLargeError(
            f"attachment {name!r} is {file.size / 1e6:.1f} MB; the limit is "
            f"{limits.max_bytes / 1e6:.1f} MB: send a smaller file (compress images, or "
            "split the PDF)"
        )
    data = await file.read(limits.max_bytes + 1)
    try:
        # PDF parsing is CPU work: keep it off the event loop.
        attachment = await asyncio.to_thread(Attachment.from_bytes, data, name=name, limits=limits)
    except AttachmentTooLargeError:
        raise
    except AttachmentError as exc:
        return None, str(exc)
    return attachment, None


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

    /models, /health/models, /route, /route/with-file, /query, /query-compare, /query-specific,
    /batch-query and /test-selection.
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

    @api.get("/health/models", summary="Per-model health: key present, reachable, last error")
    async def health_models(request: Request, check: bool = False) -> dict[str, Any]:
        grant = access.grant(request, None)
        keys = {"api_keys": grant["api_keys"], "own_keys_only": grant["own_keys_only"]}
        entries = calls.health.report(**keys)
        if check:
            entries = await calls.within_deadline(
                calls.health.check(entries, **keys), "the health check"
            )
        return {"preset": router.policy_name, "checked": check, "models": entries}

    @api.post("/route", summary="Route a prompt and answer it")
    async def route(body: RouteRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        settings = _settings(
            body.budget_usd, dry_run=body.dry_run or None, temperature=body.temperature
        )
        message = await calls.invoke(body.prompt, size=len(body.prompt), **grant, **settings)
        return _with_warnings(route_body(message, body.prompt), router, message, body.temperature)

    @api.post("/route/with-file", summary="Route a prompt with an image, PDF or text file")
    async def route_with_file(
        request: Request,
        file: Annotated[UploadFile, File(description="an image, a PDF or a UTF-8 text file")],
        prompt: Annotated[
            str | None, Form(description="the question about the file (also: query)")
        ] = None,
        query: Annotated[str | None, Form(include_in_schema=False)] = None,
        api_key: Annotated[str | None, Form(description="your own provider key")] = None,
        openai_api_key: Annotated[str | None, Form(include_in_schema=False)] = None,
        temperature: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
        dry_run: Annotated[bool, Form()] = False,
        budget_usd: Annotated[float | None, Form(gt=0)] = None,
    ) -> dict[str, Any]:
        _check_form(await request.form())
        fields = _form_fields(
            prompt=prompt, query=query, api_key=api_key, openai_api_key=openai_api_key
        )
        grant = access.grant(request, fields.get("api_key"))
        text = fields.get("prompt") or ""
        _not_blank_or_raise(text)
        attachment, problem = await _read_upload(file, limits)
        settings = _settings(budget_usd, dry_run=dry_run or None, temperature=temperature)
        payload: Any = text
        size = len(text)
        if attachment is not None:
            payload = {"query": text, "attachments": [attachment]}
            size += len(attachment.text or "")
        message = await calls.invoke(payload, size=size, **grant, **settings)
        result = route_body(message, text)
        result["file_processed"] = attachment is not None
        result["file_processing_error"] = problem
        result["attachment"] = (
            attachment.model_dump(exclude={"data_base64", "text"}) if attachment else None
        )
        return _with_warnings(result, router, message, temperature)

    @api.post("/query", summary="Answer a query (the second older system's shape)")
    async def query_endpoint(body: QueryRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        settings = _settings(body.budget_usd, temperature=body.temperature)
        message = await calls.invoke(body.query, size=len(body.query), **grant, **settings)
        return _with_warnings(query_body(message, body.query), router, message, body.temperature)

    def check_compare(
        query: str, models: Sequence[str] | None, where: str = "/query-compare"
    ) -> list[str] | None:
        names = _compare_models(models, max_batch)
        if len(query) > COMPARE_MAX_CHARS:
            raise TooManyQueriesError(
                f"the query is {len(query):,} characters; {where} takes at most "
                f"{COMPARE_MAX_CHARS:,} (it sends the query to every model): use /route or "
                "/query for longer input"
            )
        for name in names or ():
            _check_model(router, name)
        return names

    async def compare(query: str, names: list[str] | None, grant: dict[str, Any]) -> Any:
        report = await calls.within_deadline(
            router.acompare(query, models=names, **grant), "the comparison"
        )
        calls.health.note(r.model_dump() for r in report.results)
        return report

    @api.post("/query-compare", summary="Ask several models and compare their answers")
    async def query_compare(body: CompareRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        names = check_compare(body.query, body.models)
        return compare_body(await compare(body.query, names, grant))

    @api.post("/query-specific", summary="Answer a query with one given model")
    async def query_specific(body: SpecificRequest, request: Request) -> dict[str, Any]:
        grant = access.grant(request, body.api_key)
        _check_model(router, body.model)
        settings = _settings(model=body.model, temperature=body.temperature)
        message = await calls.invoke(body.query, size=len(body.query), **grant, **settings)
        result = {**query_body(message, body.query), "forced": True}
        return _with_warnings(result, router, message, body.temperature)

    @api.post("/batch-query", summary=f"Answer up to {max_batch} queries, results in order")
    async def batch_query(body: BatchRequest, request: Request) -> dict[str, Any]:
        _check_batch(len(body.queries), max_batch)
        grant = access.grant(request, body.api_key)
        names = None
        if body.compare:
            for text in body.queries:
                names = check_compare(text, body.models, "/batch-query with compare")
        secrets = request_secrets(request, token)
        own_key = bool(getattr(request.state, "brought_key", False))
        gate = asyncio.Semaphore(batch_concurrency)
        settings = _settings(body.budget_usd, temperature=body.temperature)

        async def answer(text: str) -> dict[str, Any]:
            if not body.compare:
                message = await calls.invoke(text, size=len(text), **grant, **settings)
                return _with_warnings(query_body(message, text), router, message, body.temperature)
            report = compare_body(await compare(text, names, grant))
            return {
                "prompt": text,
                "query": text,
                "selected_model": report["selected_model"],
                "selection_confidence": report["selection_confidence"],
                "best_model": report["best_model"],
                "cost_usd": round(sum(r["cost_usd"] for r in report["results"]), 8),
                "comparison": report,
            }

        async def one(index: int, text: str) -> dict[str, Any]:
            async with gate:
                # Each query's provider failures are its own (its status and Retry-After).
                with recording_provider_failures() as failures:
                    try:
                        result = await answer(text)
                    except Exception as exc:
                        status, error, _ = exception_payload(
                            exc, secrets, failures=failures, own_key=own_key
                        )
                        return {
                            "index": index,
                            "prompt": text,
                            "query": text,
                            "ok": False,
                            "status": status,
                            **error,
                        }
            return {"index": index, "ok": True, **result}

        results = await asyncio.gather(*(one(i, q) for i, q in enumerate(body.queries)))
        return {
            "count": len(results),
            "succeeded": sum(1 for r in results if r["ok"]),
            "failed": sum(1 for r in results if not r["ok"]),
            "compare": body.compare,
            "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in results), 8),
            "results": results,
        }

    @api.post("/test-selection", summary="Routing decisions only: no model call, no key")
    async def test_selection(
        request: Request, body: SelectionRequest | None = None
    ) -> dict[str, Any]:
        # No answer is generated, but an LLM classifier would spend someone's key.
        grant = access.grant(request, None)
        if body is not None and body.query is not None and body.queries is not None:
            raise InputError(
                "send either 'query' (one string) or 'queries' (a list of strings), not both; "
                "send neither (or no body) to run the built-in sample prompts"
            )
        if body is not None and body.query is not None:
            decision = await calls.route(body.query, size=len(body.query), **grant)
            return selection_body(body.query, decision)
        given = body.queries if body is not None else None
        samples = given is None
        queries = list(SAMPLE_PROMPTS) if given is None else list(given)
        _check_batch(len(queries), max_batch)
        gate = asyncio.Semaphore(batch_concurrency)

        async def one(text: str) -> dict[str, Any]:
            async with gate:
                return selection_body(text, await calls.route(text, size=len(text), **grant))

        results = await asyncio.gather(*(one(q) for q in queries))
        return {"count": len(results), "sample_prompts": samples, "results": results}
