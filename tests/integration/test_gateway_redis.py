"""The gateway's Redis-backed pieces on a real redis-server: two instances stand for two
workers and see one state (skips, saying why, without redis-server or the client)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration

from smartroute_graph.core.response_cache import open_response_cache
from smartroute_graph.routing.cooldown import CooldownPolicy
from smartroute_graph.serving.shared_state import RedisCooldowns, RedisRateLimiter, redis_client
from tests.support.services import redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def test_the_cache_is_one_for_every_worker(redis_url: str) -> None:
    one, two = open_response_cache(redis_url), open_response_cache(redis_url)
    answer = AIMessage(content="42", usage_metadata={"input_tokens": 3, "output_tokens": 1,
                                                     "total_tokens": 4})  # fmt: skip
    one.update("prompt", "model-a", [ChatGeneration(message=answer)])
    found = two.lookup("prompt", "model-a")
    assert found is not None and found[0].message.content == "42"  # type: ignore[attr-defined]
    assert two.lookup("prompt", "model-b") is None
    two.clear()
    assert one.lookup("prompt", "model-a") is None


def test_cooldowns_are_counted_across_workers(redis_url: str) -> None:
    policy = CooldownPolicy(failures=3, window_s=30, cooldown_s=1)
    a = RedisCooldowns(redis_client(redis_url), policy)
    b = RedisCooldowns(redis_client(redis_url), policy)
    a.record_failure("m1")
    b.record_failure("m1")
    assert a.cooling(["m1", "m2"]) == {}
    b.record_failure("m1")  # the third, from either worker
    assert set(a.cooling(["m1", "m2"])) == {"m1"} and set(b.cooling(["m1"])) == {"m1"}
    time.sleep(1.2)
    assert a.cooling(["m1"]) == {}  # then tried again


def test_the_rate_limit_bucket_is_shared(redis_url: str) -> None:
    client = redis_client(redis_url)
    a = RedisRateLimiter(client, "shared-model", requests_per_second=0.5)
    b = RedisRateLimiter(redis_client(redis_url), "shared-model", requests_per_second=0.5)
    assert not a.acquire(blocking=False)  # a new bucket starts empty
    time.sleep(2.1)  # one token in
    assert a.acquire(blocking=False)
    assert not b.acquire(blocking=False)  # the same bucket: empty for the other worker too
    assert not a.acquire(blocking=False)
