"""``POST /feedback``: a score for an answer the server gave, stored as an outcome observation.

Body: ``{"id": "<outcome id>", "score": 0.8, "model": "gpt-4.1"?}`` (``run_id`` is accepted
for ``id``). The id is the answer's ``smartroute.outcome_id`` (in ``/route``'s routing metadata
and in ``/v1/chat/completions``'s ``smartroute`` field), the run id the caller gave, or one from
another replica sharing the outcome store. Answers:

- 200 ``{"stored": true, "id", "model", "score", "source": "feedback"}``;
- 404 for an id no answer is remembered under
  (:class:`~smartroute_graph.routing.online.UnknownOutcomeError`);
- 422 for a score outside [0, 1], a model not in the catalog, or no id;
- 409 when the server's router does not learn (no outcome store);
- 403 for a request admitted on its own provider keys: feedback changes routing for every
  user, so it needs the server token (or an open server);
- 503 when the outcome store cannot be written.

:func:`add_feedback_routes` adds the endpoint to ``create_app``'s protected router (as
:func:`~smartroute_graph.serving.legacy.add_legacy_routes` does its endpoints), so it has the
same access dependency and error handling as the other protected endpoints.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartroute_graph.core.errors import OutcomeStoreError, UnknownModelError
from smartroute_graph.serving.deps import ServerDeps

__all__ = ["FeedbackRequest", "add_feedback_routes"]


class FeedbackRequest(BaseModel):
    """The body of ``POST /feedback``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=200, description="outcome id")
    run_id: str | None = Field(default=None, min_length=1, max_length=200, description="alias")
    score: float = Field(ge=0.0, le=1.0, description="how good the answer was, 0 to 1")
    model: str | None = Field(
        default=None,
        max_length=200,
        description="the model scored (default: the one that answered)",
    )

    @model_validator(mode="after")
    def _one_id(self) -> FeedbackRequest:
        if not (self.id or self.run_id):
            raise ValueError("send the answer's id (or run_id)")
        return self

    @property
    def outcome_id(self) -> str:
        """The id the feedback is about."""
        return str(self.id or self.run_id)


def add_feedback_routes(api: APIRouter, deps: ServerDeps) -> None:
    """Add ``POST /feedback`` over ``deps.router`` to ``api`` (a protected router)."""
    router = deps.router

    @api.post("/feedback", summary="Score an answer: the router learns from it")
    async def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
        if not getattr(request.state, "server_keys_allowed", True):
            raise HTTPException(403, "feedback needs the server token: it changes routing for all")
        if router.learner is None:
            raise HTTPException(
                409, "this server does not learn: start it with an outcome store to take feedback"
            )
        try:
            observation = await asyncio.to_thread(
                router.record_feedback, body.outcome_id, body.score, model=body.model
            )
        except UnknownModelError as exc:
            raise HTTPException(422, str(exc)) from None
        except OutcomeStoreError as exc:
            raise HTTPException(503, str(exc)) from None
        if deps.telemetry is not None:
            deps.telemetry.feedback(observation.model, observation.score)
        return {
            "stored": True,
            "id": body.outcome_id,
            "model": observation.model,
            "score": observation.score,
            "source": observation.source,
        }
