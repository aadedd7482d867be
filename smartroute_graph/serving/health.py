"""Per-model health, as the second older router reported it.

For each catalog model, whether a key is present, whether the provider is reachable, and the last
error.

:class:`ModelHealth` remembers, per model, the last failed and the last successful call of the
server's own traffic (the attempts every answer and every failure records). It never holds a
key: it says *where* a model's credentials would come from (``key_source``), and error
messages are the attempts' own, already redacted, redacted again on the way out.

Reachability is an optional check (:meth:`ModelHealth.check`): one tiny chat call per model
(``"ping"``, at most :data:`CHECK_MAX_TOKENS` tokens) through the router's one model factory,
so it reaches exactly the endpoint, key and model id an answer would; it costs a few tokens
per model, so it runs only when asked (``GET /health/models?check=true``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from smartroute_graph.core.providers import error_kind, redact_secrets, secret_values
from smartroute_graph.runnable import SmartRouter

__all__ = ["CHECK_MAX_TOKENS", "CHECK_TIMEOUT_S", "ModelHealth"]

CHECK_MAX_TOKENS = 16
CHECK_TIMEOUT_S = 15.0
_MESSAGE_CHARS = 300


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ModelHealth:
    """What the server saw of each catalog model, and a reachability check."""

    def __init__(self, router: SmartRouter) -> None:
        self.router = router
        self._lock = threading.Lock()
        self._last_error: dict[str, dict[str, Any]] = {}
        self._last_ok: dict[str, str] = {}

    def note(self, attempts: Iterable[Mapping[str, Any]] | None) -> None:
        """Record a run's attempts (``{"model", "ok", "error_kind", "error"}`` each)."""
        catalog = self.router.catalog
        for attempt in attempts or ():
            name = attempt.get("model")
            if not isinstance(name, str) or name not in catalog:
                continue
            name = catalog.resolve(name)
            with self._lock:
                if attempt.get("ok"):
                    self._last_ok[name] = _now()
                else:
                    self._last_error[name] = {
                        "at": _now(),
                        "kind": attempt.get("error_kind") or "other",
                        "message": redact_secrets(str(attempt.get("error") or ""))[:_MESSAGE_CHARS],
                    }

    def report(
        self,
        *,
        api_keys: Mapping[str, Any] | None = None,
        own_keys_only: bool = False,
        messages: bool = True,
    ) -> list[dict[str, Any]]:
        """One entry per catalog model, weakest first.

        ``key_present`` (and where the key would come from, never its value), ``last_error`` and
        ``last_success`` of the server's own traffic; ``reachable`` is None here (see
        :meth:`check`).

        Args:
            api_keys: the request's own keys (they count as present for it).
            own_keys_only: the request may spend only its own keys.
            messages: include the last error's (redacted) message, not only its kind.
        """
        catalog, provider = self.router.catalog, self.router.provider
        out = []
        for name in catalog.ladder:
            spec = catalog[name]
            source = provider.key_source(spec, api_keys, own_keys_only=own_keys_only)
            with self._lock:
                error = dict(self._last_error.get(name) or {}) or None
                last_ok = self._last_ok.get(name)
            if error is not None and not messages:
                error.pop("message", None)
            out.append(
                {
                    "model": name,
                    "provider": spec.provider,
                    "provider_model_id": spec.provider_model_id,
                    "key_present": source is not None,
                    "key_source": source,
                    "reachable": None,
                    "last_error": error,
                    "last_success": last_ok,
                }
            )
        return out

    async def check(
        self,
        entries: list[dict[str, Any]],
        *,
        api_keys: Mapping[str, Any] | None = None,
        own_keys_only: bool = False,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> list[dict[str, Any]]:
        """Fill in ``reachable`` with one tiny call to each model that has a key.

        ``entries`` (from :meth:`report`) with ``reachable`` and ``check`` filled in by one tiny
        call to each model that has a key (concurrently, ``timeout_s`` each).

        ``reachable`` is True when the provider answered and took the key (an answer, or a
        refusal of the tiny request itself), False when it could not be reached, refused the
        key or failed, None when there was no key to try.
        """
        catalog, provider = self.router.catalog, self.router.provider
        own = secret_values(api_keys)

        async def one(entry: dict[str, Any]) -> dict[str, Any]:
            if not entry["key_present"]:
                return {**entry, "check": {"ok": False, "skipped": "no key for this model"}}
            spec = catalog[entry["model"]]
            started = time.perf_counter()
            check: dict[str, Any]
            try:
                model = provider.get(spec, api_keys, own_keys_only=own_keys_only)
                await asyncio.wait_for(
                    model.ainvoke("ping", max_tokens=CHECK_MAX_TOKENS), timeout_s
                )
            except Exception as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else error_kind(exc)
                message = redact_secrets(f"{type(exc).__name__}: {exc}", own)[:_MESSAGE_CHARS]
                self.note([{"model": spec.name, "ok": False, "error_kind": kind, "error": message}])
                check = {"ok": False, "error_kind": kind, "error": message}
                reachable = kind == "bad_request"
            else:
                self.note([{"model": spec.name, "ok": True}])
                check = {"ok": True}
                reachable = True
            check["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
            check["at"] = _now()
            with self._lock:  # the check's own outcome is now the latest
                last_error = dict(self._last_error.get(spec.name) or {}) or None
                last_ok = self._last_ok.get(spec.name)
            return {
                **entry,
                "reachable": reachable,
                "check": check,
                "last_error": last_error,
                "last_success": last_ok,
            }

        return list(await asyncio.gather(*(one(entry) for entry in entries)))
