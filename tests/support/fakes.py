"""The scripted model set most tests route over: one fake per openai-preset model."""

from __future__ import annotations

from typing import Any, TypeVar

from smartroute_graph.testing import FakeChatModel

__all__ = ["OPENAI_MODELS", "fake_models"]

OPENAI_MODELS = ("gpt-4.1-nano", "gpt-4.1", "o4-mini")

M = TypeVar("M", bound=FakeChatModel)


def fake_models(
    cls: type[M] = FakeChatModel,  # type: ignore[assignment]
    *,
    per_model: dict[str, dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, M]:
    """One ``cls`` per openai-preset name; each answers ``answer from <name>: all good here``.

    ``overrides`` apply to every model, ``per_model`` to the named ones.
    """
    per_model = per_model or {}
    return {
        name: cls(
            **{
                "responses": [f"answer from {name}: all good here"],
                "model_name": name,
                **overrides,
                **per_model.get(name, {}),
            }
        )
        for name in OPENAI_MODELS
    }
