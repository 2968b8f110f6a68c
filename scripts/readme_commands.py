"""Print one of the two commands at the top of README.md: ``start`` (first fenced shell block)
or ``test`` (second). CI and the end-to-end test read them from here so they never drift.

``named_commands`` reads the other blocks the tests run: a fenced shell block right under a
``<!-- command: NAME -->`` line."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands(text: str) -> dict[str, str]:
    blocks = re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", text, flags=re.M | re.S)
    if len(blocks) < 2:
        raise SystemExit("README.md must start with two fenced shell blocks (start, test)")
    return {"start": blocks[0].strip(), "test": blocks[1].strip()}


def named_commands(text: str) -> dict[str, str]:
    """The shell blocks marked ``<!-- command: NAME -->``, by name."""
    found = re.findall(
        r"^<!-- command: ([\w-]+) -->\n```(?:sh|bash|shell)\n(.*?)^```", text, flags=re.M | re.S
    )
    return {name: block.strip() for name, block in found}


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "test"
    print(readme_commands(README.read_text(encoding="utf-8"))[which])


if __name__ == "__main__":
    main()
