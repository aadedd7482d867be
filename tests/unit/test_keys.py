"""Who may spend which key, and secrets redacted by value whatever their shape."""

from __future__ import annotations

import pytest

from smartroute_graph import SmartRouter
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.errors import MissingAPIKeyError, OwnKeysOnlyError
from smartroute_graph.core.providers import ModelProvider, redact_secrets, register_secret
from smartroute_graph.testing import FakeChatModel
from tests.support.fakes import OPENAI_MODELS, fake_models

# Shapes no pattern knows: only redaction by value catches them.
PLAIN_KEY = "plainsecret-7f3a9c1e5b2d4f6a8c0e"
ENV_KEY = "envkey.9Z8Y7X6W5V4U3T2S"


def _models(**errors: BaseException) -> dict[str, FakeChatModel]:
    per_model = {n.replace("-", "_").replace(".", "_"): n for n in OPENAI_MODELS}
    return fake_models(per_model={per_model[k]: {"error": e} for k, e in errors.items()})


def test_own_keys_only_never_falls_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    spec = preset_catalog("openai")["gpt-4.1-nano"]
    provider = ModelProvider(api_keys={"openai": "explicit-key-123456"})
    with pytest.raises(MissingAPIKeyError, match="brings its own keys but none for openai"):
        provider.get(spec, {}, own_keys_only=True)
    with pytest.raises(MissingAPIKeyError, match="brings its own keys"):
        provider.get(spec, {"openrouter": "other"}, own_keys_only=True)
    model = provider.get(spec, {"openai": "the-request-key"}, own_keys_only=True)
    assert model.openai_api_key.get_secret_value() == "the-request-key"  # type: ignore[attr-defined]
    # Without the restriction the request key comes first, then the operator's.
    default = provider.get(spec, None)
    assert default.openai_api_key.get_secret_value() == "explicit-key-123456"  # type: ignore[attr-defined]
    first = provider.get(spec, {"openai": "request-key-2"})
    assert first.openai_api_key.get_secret_value() == "request-key-2"  # type: ignore[attr-defined]


def test_own_keys_only_refuses_models_holding_the_operators_credentials() -> None:
    router = SmartRouter.from_preset("openai", models=_models())
    with pytest.raises(OwnKeysOnlyError, match="operator's credentials"):
        router.invoke("hi there", api_keys={"openai": PLAIN_KEY}, own_keys_only=True)
    assert router.invoke("hi there").text.startswith("answer from ")


def test_an_echoed_key_of_any_shape_is_redacted_from_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    echo = RuntimeError(f"invalid key {PLAIN_KEY}; the server has {ENV_KEY}")
    router = SmartRouter.from_preset("openai", models=_models(gpt_4_1_nano=echo))
    message = router.invoke("hi there", api_keys={"openai": PLAIN_KEY})
    attempts = message.response_metadata["smartroute"]["attempts"]
    failed = next(a for a in attempts if not a["ok"])
    assert PLAIN_KEY not in failed["error"] and ENV_KEY not in failed["error"]
    assert "***" in failed["error"]


def test_registered_secrets_are_redacted_by_value() -> None:
    token = "operator-token-zz99qq88"
    assert token in redact_secrets(f"got {token}")
    register_secret(token)
    assert redact_secrets(f"got {token}!") == "got ***!"
    register_secret("short")  # too short to redact safely: ignored
    assert redact_secrets("a short word") == "a short word"
