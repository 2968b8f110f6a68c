"""README.md's first two commands, run as written on a fresh clone of the repository.

The commands are read from README.md (its first two fenced shell blocks), never copied here.
The nested test run leaves this test out (it would clone again, forever).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from readme_commands import readme_commands  # noqa: E402

THIS_TEST = "tests/test_readme_commands.py::test_readme_commands_work_on_a_fresh_clone"


def test_readme_starts_with_the_two_commands() -> None:
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands["start"] == "pip install uv && uv run glm-proxy demo"
    assert commands["test"].startswith("pip install uv && uv run")


@pytest.mark.slow
@pytest.mark.timeout(1200)  # it runs the whole suite once more
def test_readme_commands_work_on_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("this test needs git and a git checkout of the project")
    clone = tmp_path / "glm-proxy"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # The agent CLIs (npm, installed by .ci/run into clients/) are not in git: the clone's
    # suite uses this checkout's install.
    installed = ROOT / "clients" / "node_modules"
    if installed.is_dir():
        (clone / "clients" / "node_modules").symlink_to(installed, target_is_directory=True)
    commands = readme_commands((clone / "README.md").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("PYTEST")}
    env["PYTEST_ADDOPTS"] = f"--deselect {THIS_TEST} -p no:cacheprovider"

    start = subprocess.run(
        commands["start"], shell=True, cwd=clone, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert start.returncode == 0, start.stdout + start.stderr
    assert re.search(r"✓ (\d+)/\1 examples converted", start.stdout)

    tests = subprocess.run(
        commands["test"], shell=True, cwd=clone, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert " passed" in tests.stdout
    assert " failed" not in tests.stdout
