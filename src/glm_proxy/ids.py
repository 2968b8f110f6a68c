"""Random ids for calls, completions and requests.

They must be unique, not secret, so they come from a PRNG seeded once per process from the
operating system, instead of a system call per id (``secrets``): ids are made on every request.
"""

from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))


def random_hex(digits: int) -> str:
    """``digits`` random lower-case hex digits."""
    return f"{_random.getrandbits(digits * 4):0{digits}x}"
