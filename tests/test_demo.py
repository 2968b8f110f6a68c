"""``glm-proxy demo``: the newcomer's first command converts every example."""

from __future__ import annotations

import re

import pytest

from glm_proxy.cli import main
from glm_proxy.dialects import known_dialects


def test_demo_converts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"✓ (\d+)/\1 examples converted", out)
    # The six GLM examples, then one call per other dialect, each named by its model's name.
    assert f"✓ {6 + len(known_dialects()) - 1}/" in out
    assert "<tool_call>get_weather" in out  # what the model wrote
    assert '"arguments": "{\\"location\\": \\"Seoul\\"}"' in out  # what the client received
    assert "✗" not in out


def test_demo_shows_the_47_style(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--model", "glm-4.7"]) == 0
    out = capsys.readouterr().out
    assert "get_weather<arg_key>" in out  # 4.7 style: no newlines between tags
    assert re.search(r"✓ (\d+)/\1 examples converted", out)
