"""The outcome store (SQLite): round trip, incremental reads, reset, errors, concurrent writers."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest

from smartroute_graph.core.errors import OutcomeStoreError, SmartRouteError
from smartroute_graph.routing.memory import OutcomeMemory
from smartroute_graph.routing.outcomes import Observation, StoreCursor, hash_text, redact_url
from smartroute_graph.routing.stores import SQLiteOutcomeStore, open_outcome_store

DIM = 16


def vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def obs(i: int, model: str = "small", score: float = 1.0, source: str = "table") -> Observation:
    return Observation(
        embedding=vec(i),
        model=model,
        score=score,
        cost_usd=0.001 * (i % 3),
        latency_ms=100.0 + i,
        source=source,
        text_hash=hash_text(f"query {i}"),
        domain="coding",
        complexity="simple",
    )


def test_round_trip_and_incremental_reads(tmp_path: Path) -> None:
    store = open_outcome_store(f"sqlite:///{tmp_path / 'a' / 'outcomes.db'}", embedder="enc")
    assert isinstance(store, SQLiteOutcomeStore)
    assert store.add([obs(i) for i in range(5)] + [obs(0, model="big", score=0.5)]) == 6
    delta = store.read_since()
    assert delta.reset and len(delta.query_ids) == 5 and len(delta.models) == 6
    stored = delta.embeddings[0]
    assert np.allclose(stored, vec(0), atol=2e-3 * np.abs(vec(0)).max())  # float16 on disk
    assert delta.domains[0] == "coding" and delta.sources[0] == "table"
    assert delta.costs[1] == pytest.approx(0.001) and delta.latencies[0] == pytest.approx(100.0)
    again = store.read_since(delta.cursor)
    assert not again.reset and len(again.models) == 0
    store.add([obs(7, model="big", score=0.0)])
    newer = store.read_since(delta.cursor)
    assert not newer.reset and newer.models == ["big"] and len(newer.query_ids) == 1
    assert store.count() == 7 and store.count(model="big") == 2 and store.count(source="x") == 0
    info = store.info()
    assert info["queries"] == 6 and info["observations"] == 7 and info["dim"] == DIM
    assert info["embedder"] == "enc"
    summary = {(r["model"], r["source"]): r for r in store.summary()}
    assert summary[("big", "table")]["n"] == 2
    assert summary[("big", "table")]["mean_score"] == pytest.approx(0.25)
    store.close()


def test_same_text_shares_one_query_row(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    store.add([obs(1, "a"), obs(1, "b")])
    store.add([obs(1, "c")])
    assert store.info()["queries"] == 1 and store.count() == 3


def test_delete_by_source_and_reset_make_readers_reload(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    store.add([obs(i, source="table") for i in range(4)] + [obs(9, source="feedback")])
    memory = OutcomeMemory.from_store(store)
    assert memory.n_observations == 5
    assert store.delete("table") == 4
    assert store.count() == 1 and store.info()["queries"] == 1
    memory.refresh()
    assert memory.n_observations == 1 and memory.n_queries == 1
    assert store.clear() == 1 and store.count() == 0
    memory.refresh()
    assert memory.n_observations == 0


def test_memory_refresh_reads_only_new_rows(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    store.add([obs(i) for i in range(3)])
    memory = OutcomeMemory.from_store(store)
    version = memory.version
    assert memory.refresh() == 0 and memory.version == version
    store.add([obs(3), obs(1, model="big", score=0.0)])
    assert memory.refresh() == 2
    assert memory.n_queries == 4 and memory.n_observations == 5
    assert memory.models == ["small", "big"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score": 1.5},
        {"score": -0.1},
        {"model": ""},
        {"embedding": np.array([np.nan, 1.0])},
        {"embedding": np.array([])},
        {"cost_usd": -1.0},
        {"source": ""},
    ],
)
def test_invalid_observations(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"embedding": vec(0), "model": "m", "score": 0.5, **kwargs}
    with pytest.raises(ValueError):
        Observation(**fields)  # type: ignore[arg-type]


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(OutcomeStoreError, match="not a readable SQLite database") as info:
        open_outcome_store(path)
    assert isinstance(info.value, SmartRouteError)
    assert "prior" in str(info.value)


def test_store_refuses_another_embedding(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db", embedder="encoder:accurate")
    store.add([obs(1)])
    with pytest.raises(OutcomeStoreError, match="encoder:accurate"):
        open_outcome_store(tmp_path / "s.db", embedder="encoder:fast")
    other = Observation(embedding=np.ones(DIM + 1), model="m", score=1.0)
    with pytest.raises(OutcomeStoreError, match="long"):
        store.add([other])


def test_bad_urls_and_unreachable_postgres() -> None:
    with pytest.raises(OutcomeStoreError, match="unknown outcome store URL"):
        open_outcome_store("redis://localhost/0")
    with pytest.raises(OutcomeStoreError, match="file path"):
        open_outcome_store("sqlite:///:memory:")
    with pytest.raises(OutcomeStoreError) as info:  # sockets are off in unit tests
        open_outcome_store("postgresql://user:secret@127.0.0.1:1/db", timeout_s=1)
    assert "secret" not in str(info.value)
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    store.close()
    with pytest.raises(OutcomeStoreError, match="closed"):
        store.count()


def test_concurrent_thread_writers_lose_nothing(tmp_path: Path) -> None:
    store = open_outcome_store(tmp_path / "s.db")
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(50):
                store.add([obs(1000 * w + i, model=f"m{w}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count() == 300
    delta = store.read_since(StoreCursor())
    assert len(set(delta.query_ids.tolist())) == 300


def _process_writer(path: str, worker: int, n: int) -> None:
    store = open_outcome_store(path)
    for i in range(n):
        store.add([obs(10_000 * (worker + 1) + i, model=f"w{worker}"), obs(i, model=f"w{worker}")])
    store.close()


def test_concurrent_process_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    open_outcome_store(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    store = open_outcome_store(path)
    assert store.count() == 4 * 40 * 2
    for w in range(4):
        assert store.count(model=f"w{w}") == 80
    # the 40 shared texts were written by every worker: one query row each
    assert store.info()["queries"] == 4 * 40 + 40
