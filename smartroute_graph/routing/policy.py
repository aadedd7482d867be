"""From a classification to a model: the policy table, then the rules, each explained."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.classifiers.base import Classification
from smartroute_graph.core.attachments import Attachment
from smartroute_graph.core.catalog import Catalog, ModelSpec, preset_catalog
from smartroute_graph.core.errors import BudgetError, ConfigError, InputError
from smartroute_graph.core.pricing import estimate_cost, estimate_output_tokens
from smartroute_graph.core.taxonomy import COMPLEXITIES, DOMAINS, Complexity, Domain

__all__ = [
    "DEFAULT_CONFIDENCE_THRESHOLD",
    "PRESET_TABLES",
    "Policy",
    "PolicyTable",
    "RoutingDecision",
]

PolicyTable = dict[Domain, dict[Complexity, str]]

DEFAULT_CONFIDENCE_THRESHOLD = 0.35
DEFAULT_MAX_ATTEMPTS = 3


def _table(rows: dict[Domain, tuple[str, str, str]]) -> PolicyTable:
    return {d: dict(zip(COMPLEXITIES, rows[d], strict=True)) for d in DOMAINS}


# Which model answers each (domain, complexity) cell. Reasoning models take hard math, code
# and logic; the general strong model takes hard writing and knowledge, where reasoning
# models add cost without adding quality.
PRESET_TABLES: dict[str, PolicyTable] = {
    "openai": _table(
        {
            "coding": ("gpt-4.1-nano", "gpt-4.1", "o4-mini"),
            "math": ("gpt-4.1-nano", "o4-mini", "o4-mini"),
            "reasoning": ("gpt-4.1-nano", "o4-mini", "o4-mini"),
            "creative": ("gpt-4.1-nano", "gpt-4.1", "gpt-4.1"),
            "knowledge": ("gpt-4.1-nano", "gpt-4.1", "gpt-4.1"),
            "text": ("gpt-4.1-nano", "gpt-4.1-nano", "gpt-4.1"),
            "chat": ("gpt-4.1-nano", "gpt-4.1-nano", "gpt-4.1"),
        }
    ),
    "openrouter": _table(
        {
            "coding": ("mistral-small", "qwen-2.5-72b", "deepseek-r1"),
            "math": ("gemini-flash", "qwen-2.5-72b", "deepseek-r1"),
            "reasoning": ("gemini-flash", "qwen-2.5-72b", "deepseek-r1"),
            "creative": ("mistral-small", "llama-3.3-70b", "llama-3.3-70b"),
            "knowledge": ("gemini-flash", "llama-3.3-70b", "deepseek-r1"),
            "text": ("gemini-flash", "gemini-flash", "llama-3.3-70b"),
            "chat": ("mistral-small", "mistral-small", "llama-3.3-70b"),
        }
    ),
}


# The fields a decision takes over from the classification it was made for.
_READING = frozenset(
    {"domain", "domain_probs", "complexity", "complexity_probs", "complexity_score", "confidence"}
)


class RoutingDecision(BaseModel):
    """Which model answers, and why."""

    model_config = ConfigDict(frozen=True)

    model: str
    domain: Domain
    complexity: Complexity
    complexity_score: float
    confidence: float
    domain_probs: dict[str, float]
    complexity_probs: dict[str, float]
    reason: str
    table_model: str = Field(description="the policy table's pick before the rules applied")
    fallbacks: list[str] = Field(default_factory=list)
    estimated_input_tokens: int = 0
    estimated_cost_usd: float = 0.0
    classifier: str = "unknown"
    classifier_cost_usd: float = 0.0
    """What the classifier's own model call cost (the LLM backend; 0 for local ones)."""
    preset: str = "custom"

    @classmethod
    def for_classification(
        cls,
        c: Classification,
        *,
        model: str,
        reason: str,
        table_model: str,
        fallbacks: Sequence[str],
        input_tokens: int,
        cost_usd: float,
        preset: str,
    ) -> RoutingDecision:
        """A decision for ``model`` that carries ``c``'s reading (domain, complexity, ...)."""
        return cls(
            **c.model_dump(include=set(_READING)),
            model=model,
            reason=reason,
            table_model=table_model,
            fallbacks=list(fallbacks),
            estimated_input_tokens=input_tokens,
            estimated_cost_usd=cost_usd,
            classifier=c.backend,
            preset=preset,
        )


class Policy:
    """Maps a classification to a model of ``catalog`` and applies the routing rules.

    Rules, in order: the table's pick; low confidence steps up one tier; attachments need a
    model that accepts them; the prompt plus the expected answer must fit the context
    window; an optional budget caps the estimated cost. Each rule that changes the pick
    adds a clause to the decision's ``reason``.
    """

    def __init__(
        self,
        catalog: Catalog,
        table: Mapping[str, Mapping[str, str]] | None = None,
        *,
        name: str = "custom",
        confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ConfigError(f"confidence_threshold must be in [0, 1], got {confidence_threshold}")
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        self.catalog = catalog
        self.name = name
        self.confidence_threshold = confidence_threshold
        self.max_attempts = max_attempts
        self.table = self._validated_table(table) if table is not None else self._tier_table()

    @classmethod
    def from_preset(cls, preset: str, **kwargs: float | int) -> Policy:
        """The policy of a named preset over its own catalog."""
        catalog = preset_catalog(preset)
        return cls(catalog, PRESET_TABLES[preset], name=preset, **kwargs)  # type: ignore[arg-type]

    def _validated_table(self, table: Mapping[str, Mapping[str, str]]) -> PolicyTable:
        unknown_domains = set(table) - set(DOMAINS)
        if unknown_domains:
            raise ConfigError(
                f"policy table: unknown domain(s) {sorted(unknown_domains)}; expected "
                f"{', '.join(DOMAINS)}"
            )
        default = self._tier_table()
        result: PolicyTable = {}
        for domain in DOMAINS:
            row = table.get(domain, {})
            unknown_levels = set(row) - set(COMPLEXITIES)
            if unknown_levels:
                raise ConfigError(
                    f"policy table.{domain}: unknown complexity {sorted(unknown_levels)}; "
                    f"expected {', '.join(COMPLEXITIES)}"
                )
            result[domain] = {}
            for level in COMPLEXITIES:
                model = row.get(level, default[domain][level])
                if model not in self.catalog:
                    raise ConfigError(
                        f"policy table.{domain}.{level}: unknown model {model!r}; the catalog "
                        f"has: {', '.join(self.catalog)}"
                    )
                result[domain][level] = model
        return result

    def _tier_table(self) -> PolicyTable:
        # Without a table: cheapest for simple, the middle of the ladder for moderate,
        # the strongest for complex.
        ladder = self.catalog.ladder
        picks = (ladder[0], ladder[(len(ladder) - 1) // 2 if len(ladder) > 2 else -1], ladder[-1])
        return {d: dict(zip(COMPLEXITIES, picks, strict=True)) for d in DOMAINS}

    def decide(
        self,
        classification: Classification,
        *,
        input_tokens: int,
        attachments: Sequence[Attachment] = (),
        budget_usd: float | None = None,
        confidence_threshold: float | None = None,
        max_attempts: int | None = None,
        learned_model: str | None = None,
        learned_reason: str | None = None,
    ) -> RoutingDecision:
        """Choose the model for one classified query.

        ``learned_model`` (with its ``learned_reason``) replaces the table's pick and the
        confidence rule (the learned policy weighed the evidence already); the other rules
        still apply. A ``learned_reason`` without a model (the prior decides, and why) leads
        the reason.
        """
        c = classification
        threshold = (
            self.confidence_threshold if confidence_threshold is None else confidence_threshold
        )

        def cost_of(name: str) -> float:
            return estimate_cost(self.catalog[name], input_tokens, c.complexity)

        table_model = self.table[c.domain][c.complexity]
        model = learned_model or table_model
        reasons = [learned_reason] if learned_reason else []
        if learned_model is None:
            reasons.append(f"{c.domain}/{c.complexity} → {table_model} (policy table)")
        if c.note:  # how the classification was read (e.g. with the previous turn)
            reasons.append(c.note)

        if learned_model is None and c.confidence < threshold:
            stronger = self.catalog.stronger_than(model)
            if stronger:
                reasons.append(
                    f"confidence {c.confidence:.2f} < {threshold:.2f}: stepped up to {stronger[0]}"
                )
                model = stronger[0]
            else:
                reasons.append(
                    f"confidence {c.confidence:.2f} < {threshold:.2f} but {model} is already "
                    "the strongest"
                )

        candidates = self._capable(attachments, input_tokens, c.complexity)
        if model not in candidates:
            why = self._why_not(model, attachments, input_tokens, c.complexity)
            model = self._nearest(model, candidates, attachments, input_tokens)
            reasons.append(f"{why}: moved to {model}")

        cost = cost_of(model)
        if budget_usd is not None and cost > budget_usd:
            affordable = [n for n in candidates if cost_of(n) <= budget_usd]
            if not affordable:
                cheapest = min(candidates, key=cost_of)
                raise BudgetError(
                    f"no model fits the budget of ${budget_usd:.6f}: the cheapest, {cheapest}, "
                    f"is estimated at ${cost_of(cheapest):.6f} "
                    f"for ~{input_tokens} input tokens. Raise the budget or shorten the prompt"
                )
            # The strongest affordable model; among equals the dearer is usually better.
            best = max(
                affordable,
                key=lambda n: (self.catalog[n].tier, self.catalog[n].output_price_per_m),
            )
            reasons.append(
                f"estimated ${cost:.6f} for {model} exceeds budget ${budget_usd:.6f}: chose {best}"
            )
            model = best
            cost = cost_of(model)

        attempts = self.max_attempts if max_attempts is None else max_attempts
        fallbacks = [
            n
            for n in self.catalog.fallback_order(model)
            if n in candidates and (budget_usd is None or cost_of(n) <= budget_usd)
        ][: max(0, attempts - 1)]

        return RoutingDecision.for_classification(
            c,
            model=model,
            reason="; ".join(reasons),
            table_model=table_model,
            fallbacks=fallbacks,
            input_tokens=input_tokens,
            cost_usd=cost,
            preset=self.name,
        )

    def _fits(self, spec: ModelSpec, input_tokens: int, complexity: Complexity) -> bool:
        return input_tokens + estimate_output_tokens(spec, complexity) <= spec.context_window

    def _capable(
        self, attachments: Sequence[Attachment], input_tokens: int, complexity: Complexity
    ) -> list[str]:
        needs_images = any(a.needs_images for a in attachments)
        needs_pdfs = any(a.needs_pdfs for a in attachments)
        capable = [
            n
            for n in self.catalog.ladder
            if (self.catalog[n].supports_images or not needs_images)
            and (self.catalog[n].supports_pdfs or not needs_pdfs)
        ]
        if not capable:
            what = "images" if needs_images else "PDF files"
            raise InputError(
                f"no model in the catalog accepts {what}: add one with "
                f"supports_{'images' if needs_images else 'pdfs'}=True, or send the content as text"
            )
        fitting = [n for n in capable if self._fits(self.catalog[n], input_tokens, complexity)]
        if not fitting:
            largest = max(self.catalog[n].context_window for n in capable)
            raise InputError(
                f"the input (~{input_tokens} tokens) does not fit any model's context window "
                f"(largest: {largest} tokens): shorten the prompt or attachments"
            )
        return fitting

    def _nearest(
        self,
        model: str,
        candidates: list[str],
        attachments: Sequence[Attachment],
        input_tokens: int,
    ) -> str:
        # Prefer the weakest capable model at or above the pick's tier, else the strongest below.
        tier = self.catalog[model].tier
        above = [n for n in candidates if self.catalog[n].tier >= tier]
        return above[0] if above else candidates[-1]

    def _why_not(
        self,
        model: str,
        attachments: Sequence[Attachment],
        input_tokens: int,
        complexity: Complexity,
    ) -> str:
        spec = self.catalog[model]
        if any(a.needs_images for a in attachments) and not spec.supports_images:
            return f"{model} does not accept images"
        if any(a.needs_pdfs for a in attachments) and not spec.supports_pdfs:
            return f"{model} does not read PDFs"
        return (
            f"~{input_tokens} input tokens plus the answer exceed {model}'s "
            f"{spec.context_window}-token context window"
        )
