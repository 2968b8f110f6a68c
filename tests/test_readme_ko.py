"""README.ko.md, the Korean README, keeps up with README.md where drift would mislead a reader:
the same two commands at the top, and every setting of the configuration table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from readme_commands import readme_commands  # noqa: E402

ENGLISH = (ROOT / "README.md").read_text(encoding="utf-8")
KOREAN = (ROOT / "README.ko.md").read_text(encoding="utf-8")


def configuration_settings(text: str) -> list[str]:
    """The backticked names in the first column of the table under ``## Configuration``."""
    section = re.search(r"^## Configuration\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert section is not None, "README.md has no '## Configuration' section"
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section.group(1), flags=re.M)


def test_korean_readme_starts_with_the_same_two_commands() -> None:
    assert readme_commands(KOREAN) == readme_commands(ENGLISH)


def test_configuration_settings_are_read_from_the_table() -> None:
    settings = configuration_settings(ENGLISH)
    assert "OPENAI_BASE_URL" in settings
    assert "GLM_MODELS" in settings
    assert len(settings) == len(set(settings))


def test_korean_readme_names_every_setting() -> None:
    missing = [name for name in configuration_settings(ENGLISH) if f"`{name}`" not in KOREAN]
    assert missing == []


def test_korean_readme_links_back_to_the_english_one() -> None:
    assert "[English README](README.md)" in KOREAN


def test_korean_readme_has_the_same_other_ways_in() -> None:
    from readme_commands import named_commands

    assert named_commands(KOREAN) == named_commands(ENGLISH)
    assert set(named_commands(ENGLISH)) == {"uv-installer", "pip", "uvx"}


def test_korean_readme_has_every_code_block_of_the_english_one() -> None:
    # Commands, configurations and client recipes are the same in both languages.
    def blocks(text: str) -> list[str]:
        return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S)

    assert blocks(KOREAN) == blocks(ENGLISH)


def test_both_readmes_give_each_client_the_same_status() -> None:
    clients = ("OpenCode", "LangChain", "Vercel AI SDK", "Cline / Roo Code", "Continue", "Aider")
    for client in clients:
        tested = f"**{client}** (tested" in ENGLISH
        assert tested or f"**{client}** (untested)" in ENGLISH, client
        korean = f"**{client}** (테스트됨" if tested else f"**{client}** (테스트 안 됨)"
        assert korean in KOREAN, client
