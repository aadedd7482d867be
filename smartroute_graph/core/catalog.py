"""The model catalog: what each model costs, what it can do, and how strong it is."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartroute_graph.core.errors import ConfigError, UnknownModelError

__all__ = ["PRESETS", "Catalog", "ModelSpec", "Provider", "preset_catalog", "spec_from_string"]

# "openai" and "openrouter" are built with langchain-openai; "custom" models are given
# ready-made; any other name is a LangChain provider built with ``init_chat_model``
# ("anthropic", "google_genai", "mistralai", "bedrock_converse", …).
Provider = str
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


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
    cached_input_price_per_m: float | None = Field(
        default=None,
        ge=0.0,
        description="price of input tokens read from the provider's prompt cache; None: the "
        "input price",
    )
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=16_384, gt=0)
    supports_images: bool = False
    supports_pdfs: bool = False
    reasoning: bool = False
    tier: int = Field(ge=1, le=10)
    aliases: tuple[str, ...] = Field(
        default=(),
        description="other names the model answers to (e.g. an older system's short name)",
    )

    @field_validator("provider")
    @classmethod
    def _provider_is_a_name(cls, value: str) -> str:
        if not _PROVIDER_NAME.match(value):
            raise ValueError(
                f"provider {value!r} is not a provider name: use 'openai', 'openrouter', "
                "'custom' (a model you pass in models=) or a LangChain provider such as "
                "'anthropic'"
            )
        return value

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

    def __init__(self, specs: Sequence[ModelSpec | str]) -> None:
        resolved = [spec_from_string(s) if isinstance(s, str) else s for s in specs]
        if not resolved:
            raise ConfigError("the catalog is empty: add at least one model")
        by_name: dict[str, ModelSpec] = {}
        for spec in resolved:
            if spec.name in by_name:
                raise ConfigError(f"the catalog names model {spec.name!r} twice")
            by_name[spec.name] = spec
        self._specs = by_name
        self._aliases: dict[str, str] = {}
        for spec in resolved:
            for alias in spec.aliases:
                owner = by_name.get(alias) or by_name.get(self._aliases.get(alias, ""))
                if owner is not None and owner.name != spec.name:
                    raise ConfigError(
                        f"alias {alias!r} of model {spec.name!r} is already the name or an "
                        f"alias of {owner.name!r}: give each name to one model"
                    )
                if alias != spec.name:
                    self._aliases[alias] = spec.name
        # Weakest first; ties by price so the cheaper of two equals comes first.
        self._ladder = tuple(
            sorted(by_name, key=lambda n: (by_name[n].tier, _blended_price(by_name[n]), n))
        )

    def __getitem__(self, name: str) -> ModelSpec:
        return self._specs[self.resolve(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._specs or name in self._aliases)

    def resolve(self, name: str) -> str:
        """The catalog name of ``name``: a model's own name, or one of its ``aliases``.

        Raises:
            UnknownModelError: no model has that name or alias (the message lists them).
        """
        if name in self._specs:
            return name
        try:
            return self._aliases[name]
        except (KeyError, TypeError):
            raise UnknownModelError(
                f"unknown model {name!r}; the catalog has: {self.known_names}"
            ) from None

    @property
    def known_names(self) -> str:
        """The model names, and their aliases, for a message: ``"a, b (also: c)"``."""
        also = f" (also: {', '.join(self._aliases)})" if self._aliases else ""
        return ", ".join(self._specs) + also

    @property
    def aliases(self) -> Mapping[str, str]:
        """Every alias and the catalog name it stands for."""
        return dict(self._aliases)

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
        """Where to go when ``name`` fails: stronger models first, then the rest, strongest first.

        A failure at the top thus still gets an answer from the next best model.
        """
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


class _Row(NamedTuple):
    """One preset model: prices in USD per 1M tokens; ``reads`` is what it takes beyond text."""

    name: str
    input_price: float
    output_price: float
    context_window: int
    max_output: int
    reads: frozenset[str]
    reasoning: bool
    tier: int


_TEXT: frozenset[str] = frozenset()
_IMAGES = frozenset({"images"})
_IMAGES_PDFS = frozenset({"images", "pdfs"})

# Public list prices (USD per 1M tokens) as published by the providers in 2025.
# Prices change: override them in your config rather than trusting these forever.
# name, $ in, $ out, context window, longest answer, reads beyond text, reasoning, tier
_OPENAI_ROWS = (
    _Row("gpt-4.1-nano", 0.10, 0.40, 1_047_576, 32_768, _IMAGES_PDFS, False, 1),
    _Row("gpt-4.1", 2.00, 8.00, 1_047_576, 32_768, _IMAGES_PDFS, False, 2),
    _Row("o4-mini", 1.10, 4.40, 200_000, 100_000, _IMAGES_PDFS, True, 3),
)
_OPENROUTER_ROWS = (
    _Row("mistral-small", 0.10, 0.30, 128_000, 16_384, _IMAGES, False, 1),
    _Row("gemini-flash", 0.10, 0.40, 1_048_576, 8_192, _IMAGES_PDFS, False, 1),
    _Row("qwen-2.5-72b", 0.12, 0.39, 32_768, 8_192, _TEXT, False, 2),
    _Row("llama-3.3-70b", 0.13, 0.40, 131_072, 16_384, _TEXT, False, 2),
    _Row("deepseek-r1", 0.55, 2.19, 163_840, 32_768, _TEXT, True, 3),
)
# The older OpenRouter router's names for them, where they differ (accepted wherever a model
# name is: /query-specific, /query-compare, /v1/chat/completions, --model, training labels).
_OPENROUTER_ALIASES = {"qwen-2.5-72b": ("qwen",), "llama-3.3-70b": ("llama-3.3",)}
# OpenRouter's ids for the short names above.
_OPENROUTER_IDS = {
    "mistral-small": "mistralai/mistral-small-3.1-24b-instruct",
    "gemini-flash": "google/gemini-2.0-flash-001",
    "qwen-2.5-72b": "qwen/qwen-2.5-72b-instruct",
    "llama-3.3-70b": "meta-llama/llama-3.3-70b-instruct",
    "deepseek-r1": "deepseek/deepseek-r1",
}


# OpenAI's published prices for cached input tokens (USD per 1M).
_CACHED_INPUT_PRICES = {"gpt-4.1-nano": 0.025, "gpt-4.1": 0.50, "o4-mini": 0.275}


def _specs(
    provider: Provider,
    rows: tuple[_Row, ...],
    ids: Mapping[str, str] | None = None,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[ModelSpec, ...]:
    return tuple(
        ModelSpec(
            name=row.name,
            provider=provider,
            model_id=(ids or {}).get(row.name, ""),
            input_price_per_m=row.input_price,
            cached_input_price_per_m=_CACHED_INPUT_PRICES.get(row.name),
            output_price_per_m=row.output_price,
            context_window=row.context_window,
            max_output_tokens=row.max_output,
            supports_images="images" in row.reads,
            supports_pdfs="pdfs" in row.reads,
            reasoning=row.reasoning,
            tier=row.tier,
            aliases=(aliases or {}).get(row.name, ()),
        )
        for row in rows
    )


PRESETS: dict[str, tuple[ModelSpec, ...]] = {
    "openai": _specs("openai", _OPENAI_ROWS),
    "openrouter": _specs("openrouter", _OPENROUTER_ROWS, _OPENROUTER_IDS, _OPENROUTER_ALIASES),
}


def preset_catalog(name: str) -> Catalog:
    """The catalog of a named preset (``"openai"`` or ``"openrouter"``)."""
    try:
        return Catalog(PRESETS[name])
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def spec_from_string(value: str) -> ModelSpec:
    """The catalog entry a provider string names (``"openai:gpt-4.1"``).

    With the prices, tier and limits of the preset model it is.

    Raises:
        ConfigError: the string is not ``provider:model``, or no preset has that model (then
            give a :class:`ModelSpec` with its prices).
    """
    provider, _, model_id = value.partition(":")
    if not provider or not model_id:
        raise ConfigError(
            f"{value!r} is not a provider string: write 'provider:model' (e.g. 'openai:gpt-4.1')"
        )
    for spec in (s for specs in PRESETS.values() for s in specs):
        if spec.provider == provider and model_id in (spec.provider_model_id, spec.name):
            return spec
    raise ConfigError(
        f"the catalog has no prices for {value!r}: give ModelSpec(name=..., provider="
        f"{provider!r}, model_id={model_id!r}, input_price_per_m=..., output_price_per_m=..., "
        "context_window=..., tier=...) instead"
    )
