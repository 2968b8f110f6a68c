"""The in-memory response store: bounded by count, age and bytes (pure, with a fake clock)."""

from __future__ import annotations

from typing import Any

from glm_proxy.fronts.openai_responses.store import ResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def response(number: int, text: str = "x") -> dict[str, Any]:
    return {"id": f"resp_{number}", "output": [{"type": "message", "text": text}]}


def test_get_returns_what_was_put() -> None:
    store = ResponseStore(10, 60)
    items = [{"type": "message", "role": "user", "content": "hi"}]
    assert store.put(response(1), items)
    stored = store.get("resp_1")
    assert stored is not None
    assert stored.response == response(1)
    assert stored.items == items
    assert store.get("resp_2") is None


def test_oldest_go_first_past_the_count() -> None:
    store = ResponseStore(3, 60)
    for number in range(5):
        store.put(response(number), [])
    assert len(store) == 3
    assert [store.get(f"resp_{n}") is not None for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_entries_expire() -> None:
    clock = Clock()
    store = ResponseStore(10, 60, clock=clock)
    store.put(response(1), [])
    clock.now += 30
    store.put(response(2), [])
    clock.now += 31
    assert store.get("resp_1") is None
    assert store.get("resp_2") is not None
    clock.now += 30
    assert store.get("resp_2") is None
    assert len(store) == 0
    assert store.size == 0


def test_bytes_stay_under_the_budget_under_load() -> None:
    store = ResponseStore(1_000_000, 3600, max_bytes=50_000)
    for number in range(2_000):
        store.put(response(number, "y" * (number % 700)), [{"content": "z" * 300}])
        assert store.size <= 50_000
    assert store.get("resp_1999") is not None
    assert store.size == sum(len(data) for _, data in store._entries.values())


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    store = ResponseStore(10, 60, max_bytes=100)
    assert not store.put(response(1, "y" * 200), [])
    assert store.get("resp_1") is None
    assert store.size == 0


def test_zero_entries_keeps_nothing() -> None:
    store = ResponseStore(0, 60)
    assert not store.put(response(1), [])
    assert store.get("resp_1") is None


def test_putting_an_id_again_replaces_it() -> None:
    store = ResponseStore(10, 60)
    store.put(response(1, "a"), [])
    store.put(response(1, "bb"), [])
    assert len(store) == 1
    stored = store.get("resp_1")
    assert stored is not None
    assert stored.response["output"][0]["text"] == "bb"
