"""README.md's commands, run as written on a fresh clone of the repository.

The commands are read from README.md (its first two fenced shell blocks, and the blocks marked
``<!-- command: NAME -->``), never copied here.

The README's test command runs this file too, so inside the clone it runs the quick README
checks only; ``GLM_PROXY_NESTED_SUITE=1`` makes it run the whole suite there once more (the
nested run leaves this test out: it would clone again, forever).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from readme_commands import named_commands, readme_commands  # noqa: E402

THIS_TEST = "tests/test_readme_commands.py::test_readme_commands_work_on_a_fresh_clone"
README = (ROOT / "README.md").read_text(encoding="utf-8")
NESTED_SUITE = os.environ.get("GLM_PROXY_NESTED_SUITE") == "1"
ALL_CONVERTED = re.compile(r"^✓ (\d+)/\1 examples converted$", re.M)
QUICK_README_CHECKS = "tests/test_readme_ko.py tests/test_readme_commands.py -m 'not slow'"


def test_readme_starts_with_the_two_commands() -> None:
    commands = readme_commands(README)
    assert commands["start"] == "pip install uv && uv run glm-proxy demo"
    assert commands["test"].startswith("pip install uv && uv run")


def test_readme_gives_the_other_ways_in() -> None:
    named = named_commands(README)
    # Where `pip install uv` is refused (an externally-managed Python): uv's installer or pipx.
    installer, run = named["uv-installer"].splitlines()
    assert installer.startswith("curl -LsSf https://astral.sh/uv/install.sh | sh")
    assert installer.endswith("# or: pipx install uv")
    assert run == "uv run glm-proxy demo"
    assert "pip install" in named["pip"]
    assert all("uvx --from" in line for line in named["uvx"].splitlines())


def clean_environment() -> dict[str, str]:
    """The environment of a user's shell: no virtual environment, no pytest of ours, no proxy
    setting (PORT: a free one, so that a proxy left on 8082 does not matter)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "VIRTUAL_ENV" and not k.startswith("PYTEST") and k != "OPENAI_BASE_URL"
    }
    env["PORT"] = str(free_port())
    return env


def fresh_clone(where: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("this test needs git and a git checkout of the project")
    clone = where / "glm-proxy"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def run_shell(command: str, clone: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        command, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.timeout(1500)  # with GLM_PROXY_NESTED_SUITE=1 it runs the whole suite once more
def test_readme_commands_work_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    commands = readme_commands((clone / "README.md").read_text(encoding="utf-8"))
    env = clean_environment()

    start = run_shell(commands["start"], clone, env, timeout=600)
    assert ALL_CONVERTED.search(start), start[-3000:]

    if NESTED_SUITE:
        env["PYTEST_ADDOPTS"] = f"--deselect {THIS_TEST} -p no:cacheprovider"
        # The npm clients are installed once, in this checkout.
        (clone / "clients" / "node_modules").symlink_to(ROOT / "clients" / "node_modules")
    else:
        env["PYTEST_ADDOPTS"] = f"-p no:cacheprovider {QUICK_README_CHECKS}"
    tests = run_shell(commands["test"], clone, env, timeout=1400)
    assert re.search(r"\b\d+ passed\b", tests), tests[-3000:]
    assert " failed" not in tests


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_pip_way_works_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    env = clean_environment()
    pip_way = named_commands((clone / "README.md").read_text(encoding="utf-8"))["pip"]
    output = run_shell(f"set -e\n{pip_way}", clone, env, timeout=540)
    assert ALL_CONVERTED.search(output), output[-3000:]
    version = run_shell(".venv/bin/glm-proxy --version", clone, env, timeout=60)
    assert version == "glm-proxy 0.1.0\n"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_uvx_way_works_without_a_clone(tmp_path: Path) -> None:
    # The repository's address is this checkout, as git+file:// (the README says "URL").
    repository = fresh_clone(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_environment()
    demo, serve = named_commands(README)["uvx"].replace("URL", f"file://{repository}").splitlines()

    output = run_shell(demo, elsewhere, env, timeout=540)
    assert ALL_CONVERTED.search(output), output[-3000:]

    process = subprocess.Popen(
        serve,
        shell=True,
        cwd=elsewhere,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the shell, uvx and the proxy: its group
    )
    try:
        assert process.stderr is not None
        banner = ""
        for line in process.stderr:  # uvx says what it installed first
            if line.startswith("glm-proxy on "):
                banner = line
                break
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
    assert banner.startswith(
        f"glm-proxy on http://127.0.0.1:{env['PORT']}/v1 -> http://127.0.0.1:1234/v1 "
    )
