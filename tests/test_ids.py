"""Random ids: the format clients expect, and no repeats."""

from __future__ import annotations

import re

from glm_proxy.dialects import new_call_id
from glm_proxy.ids import random_hex


def test_call_ids_look_like_openai_ones_and_do_not_repeat() -> None:
    ids = [new_call_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", call_id) for call_id in ids)
    assert len(set(ids)) == len(ids)


def test_random_hex_keeps_leading_zeros() -> None:
    assert {len(random_hex(2)) for _ in range(1_000)} == {2}
    assert len({random_hex(2) for _ in range(2_000)}) > 200  # all 256 values come up
