"""The outcome store on a real PostgreSQL server: a throwaway cluster started by the fixture
(``initdb`` / ``pg_ctl`` in a temporary folder, a free loopback port, trust authentication).

Skips, saying why, when the PostgreSQL server programs or psycopg are missing. As root (CI
runs as root) the cluster runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from smartroute_graph.core.errors import OutcomeStoreError
from smartroute_graph.routing.learned import LearnedPolicy, LearnedSettings
from smartroute_graph.routing.outcomes import Observation, hash_text
from smartroute_graph.routing.stores import PostgresOutcomeStore, open_outcome_store
from tests.support.servers import free_port
from tests.support.services import postgres_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def obs(i: int, model: str = "m", score: float = 1.0, source: str = "t") -> Observation:
    rng = np.random.default_rng(i)
    return Observation(
        embedding=rng.standard_normal(16),
        model=model,
        score=score,
        cost_usd=0.001,
        source=source,
        text_hash=hash_text(f"q{i}"),
        domain="math",
        complexity="moderate",
    )


def test_round_trip_incremental_and_reset(pg_url: str) -> None:
    store = open_outcome_store(pg_url, embedder="test")
    assert isinstance(store, PostgresOutcomeStore)
    store.clear()
    assert store.add([obs(i) for i in range(10)] + [obs(0, model="big", score=0.0)]) == 11
    delta = store.read_since()
    assert len(delta.query_ids) == 10 and len(delta.models) == 11
    store.add([obs(20, source="feedback")])
    newer = store.read_since(delta.cursor)
    assert not newer.reset and len(newer.models) == 1 and newer.sources == ["feedback"]
    summary = {(r["model"], r["source"]): r["n"] for r in store.summary()}
    assert summary == {("big", "t"): 1, ("m", "t"): 10, ("m", "feedback"): 1}
    assert store.delete("t") == 11 and store.count() == 1
    assert store.read_since(newer.cursor).reset
    store.clear()
    store.close()


def test_pending_answers_over_postgres(pg_url: str) -> None:
    import time

    from smartroute_graph.routing.outcomes import PendingOutcome

    store = open_outcome_store(pg_url, embedder="test")
    vector = obs(1).embedding
    store.add_pending("old", PendingOutcome(vector, "m", time=time.time() - 100), ttl_s=1000)
    store.add_pending("run-1", PendingOutcome(vector, "m", cost_usd=0.5), ttl_s=50)
    store.add_pending("run-1", PendingOutcome(vector, "big", cost_usd=0.25), ttl_s=50)
    assert store.pending("old") is None
    found = store.pending("run-1")
    assert found is not None and (found.model, found.cost_usd) == ("big", 0.25)
    store.add([found.observation(1.0, run_id="run-1")])
    assert store.count(source="feedback") == 1
    store.clear()
    assert store.pending("run-1") is None
    store.close()


def test_learned_policy_over_postgres(pg_url: str) -> None:
    store = open_outcome_store(pg_url)
    store.clear()
    store.add(obs(i, model=m, score=s) for i in range(30) for m, s in (("a", 0.0), ("b", 1.0)))
    policy = LearnedPolicy.from_store(store, settings=LearnedSettings(tune=False), refresh_s=0)
    assert policy.decide(obs(3).embedding).model == "b"
    store.clear()
    store.close()


def test_concurrent_writers_lose_nothing(pg_url: str) -> None:
    store = open_outcome_store(pg_url)
    store.clear()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(40):
                store.add([obs(1000 * (w + 1) + i, model=f"t{w}"), obs(i, model=f"t{w}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(pg_url, w)) for w in range(3)]
    for p in procs:
        p.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(timeout=120)
    assert not errors and all(p.exitcode == 0 for p in procs)
    assert store.count() == 4 * 80 + 3 * 80
    assert store.info()["queries"] == 4 * 40 + 3 * 40 + 40
    # a reader that followed along by high-water mark has every row
    delta = store.read_since()
    assert len(delta.models) == store.count()
    store.clear()
    store.close()


def _process_writer(url: str, worker: int) -> None:
    store = open_outcome_store(url)
    for i in range(40):
        store.add([obs(100_000 * (worker + 1) + i, model=f"p{worker}"), obs(i, model=f"p{worker}")])
    store.close()


def test_unreachable_server_is_a_clear_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(OutcomeStoreError, match="outcome store postgresql://u:\\*\\*\\*@"):
        open_outcome_store(f"postgresql://u:pw@127.0.0.1:{free_port()}/db", timeout_s=2)
