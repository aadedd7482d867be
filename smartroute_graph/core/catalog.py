"""The model catalog: what each model costs, what it can do, and how strong it is."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartroute_graph.core.errors import ConfigError, UnknownModelError

__all__ = ["PRESETS", "Catalog", "ModelSpec", "Provider", "preset_catalog"]

Provider = Literal["openai", "openrouter", "custom"]


class ModelSpec(BaseModel):
    """One chat model the router can call.

    Prices are US dollars per million tokens. ``tier`` orders models by strength
    (1 = cheapest and weakest); fallback and "step up" move to a higher tier.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="name used in policies, metadata and the graph")
    provider: Provider = "custom"
    model_id: str = Field(default="", description="the provider's model id; defaults to name")
    input_price_per_m: float = Field(ge=0.0)
    output_price_per_m: float = Field(ge=0.0)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=16_384, gt=0)
    supports_images: bool = False
    supports_pdfs: bool = False
    reasoning: bool = False
    tier: int = Field(ge=1, le=10)

    @field_validator("name")
    @classmethod
    def _name_is_a_node_name(cls, value: str) -> str:
        forbidden = set(value) & set(" :|\n\t")
        if forbidden or value.startswith("_"):
            raise ValueError(
                f"model name {value!r} cannot contain spaces, ':' or '|' or start with '_' "
                "(it becomes a graph node name)"
            )
        return value

    @property
    def provider_model_id(self) -> str:
        """The id sent to the provider (``model_id`` or, when empty, ``name``)."""
        return self.model_id or self.name


class Catalog(Mapping[str, ModelSpec]):
    """An ordered, immutable mapping of model name → :class:`ModelSpec`."""

    def __init__(self, specs: list[ModelSpec] | tuple[ModelSpec, ...]) -> None:
        if not specs:
            raise ConfigError("the catalog is empty: add at least one model")
        by_name: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in by_name:
                raise ConfigError(f"the catalog names model {spec.name!r} twice")
            by_name[spec.name] = spec
        self._specs = by_name
        # Weakest first; ties by price so the cheaper of two equals comes first.
        self._ladder = tuple(
            sorted(by_name, key=lambda n: (by_name[n].tier, _blended_price(by_name[n]), n))
        )

    def __getitem__(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownModelError(
                f"unknown model {name!r}; the catalog has: {', '.join(self._specs)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"Catalog({list(self._specs)})"

    @property
    def ladder(self) -> tuple[str, ...]:
        """Model names from weakest to strongest (tier, then price)."""
        return self._ladder

    def stronger_than(self, name: str) -> list[str]:
        """Models strictly above ``name`` on the ladder, weakest first."""
        tier = self[name].tier
        return [n for n in self._ladder if self._specs[n].tier > tier]

    def fallback_order(self, name: str) -> list[str]:
        """Where to go when ``name`` fails: stronger models first, then the rest, strongest
        first, so a failure at the top still gets an answer from the next best model."""
        stronger = self.stronger_than(name)
        rest = [n for n in reversed(self._ladder) if n != name and n not in stronger]
        return stronger + rest

    def with_model(self, spec: ModelSpec) -> Catalog:
        """A new catalog with ``spec`` added (or replacing the model of the same name)."""
        specs = [s for s in self._specs.values() if s.name != spec.name]
        return Catalog([*specs, spec])


def _blended_price(spec: ModelSpec) -> float:
    # Typical chat traffic reads about three tokens for each one it writes.
    return 0.75 * spec.input_price_per_m + 0.25 * spec.output_price_per_m


# Public list prices (USD per 1M tokens) as published by the providers in 2025.
# Prices change: override them in your config rather than trusting these forever.
_OPENAI = (
    ModelSpec(
        name="gpt-4.1-nano",
        provider="openai",
        input_price_per_m=0.10,
        output_price_per_m=0.40,
        context_window=1_047_576,
        max_output_tokens=32_768,
        supports_images=True,
        supports_pdfs=True,
        tier=1,
    ),
    ModelSpec(
        name="gpt-4.1",
        provider="openai",
        input_price_per_m=2.00,
        output_price_per_m=8.00,
        context_window=1_047_576,
        max_output_tokens=32_768,
        supports_images=True,
        supports_pdfs=True,
        tier=2,
    ),
    ModelSpec(
        name="o4-mini",
        provider="openai",
        input_price_per_m=1.10,
        output_price_per_m=4.40,
        context_window=200_000,
        max_output_tokens=100_000,
        supports_images=True,
        supports_pdfs=True,
        reasoning=True,
        tier=3,
    ),
)

_OPENROUTER = (
    ModelSpec(
        name="mistral-small",
        provider="openrouter",
        model_id="mistralai/mistral-small-3.1-24b-instruct",
        input_price_per_m=0.10,
        output_price_per_m=0.30,
        context_window=128_000,
        supports_images=True,
        tier=1,
    ),
    ModelSpec(
        name="gemini-flash",
        provider="openrouter",
        model_id="google/gemini-2.0-flash-001",
        input_price_per_m=0.10,
        output_price_per_m=0.40,
        context_window=1_048_576,
        max_output_tokens=8_192,
        supports_images=True,
        supports_pdfs=True,
        tier=1,
    ),
    ModelSpec(
        name="qwen-2.5-72b",
        provider="openrouter",
        model_id="qwen/qwen-2.5-72b-instruct",
        input_price_per_m=0.12,
        output_price_per_m=0.39,
        context_window=32_768,
        max_output_tokens=8_192,
        tier=2,
    ),
    ModelSpec(
        name="llama-3.3-70b",
        provider="openrouter",
        model_id="meta-llama/llama-3.3-70b-instruct",
        input_price_per_m=0.13,
        output_price_per_m=0.40,
        context_window=131_072,
        tier=2,
    ),
    ModelSpec(
        name="deepseek-r1",
        provider="openrouter",
        model_id="deepseek/deepseek-r1",
        input_price_per_m=0.55,
        output_price_per_m=2.19,
        context_window=163_840,
        max_output_tokens=32_768,
        reasoning=True,
        tier=3,
    ),
)

PRESETS: dict[str, tuple[ModelSpec, ...]] = {"openai": _OPENAI, "openrouter": _OPENROUTER}


def preset_catalog(name: str) -> Catalog:
    """The catalog of a named preset (``"openai"`` or ``"openrouter"``)."""
    try:
        return Catalog(PRESETS[name])
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
