"""The Dockerfile, as far as it can be checked without a Docker engine (this project's test
machine has none, and no access to Docker Hub).

Its shape: two stages, each base image pinned by digest, pip and uv only in the build stage.
Its steps: the build stage's COPY and RUN lines are run as written in a folder laid out like the
image's /app, the folder is then cut down to what the final stage copies, and the image's CMD
and HEALTHCHECK run against it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [text for word, text in self.instructions if word == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for text in self.all("ENV"):
            for part in shlex.split(text):
                name, _, value = part.partition("=")
                values[name] = value
        return values


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, with ARG defaults substituted into FROM and line
    continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            image, _, name = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.strip())
            found.append(Stage(image, name.strip() or None))
        else:
            found[-1].instructions.append((word, rest))
    return found


def test_two_stages_each_pinned_by_digest() -> None:
    build, final = stages(DOCKERFILE)
    assert build.name == "build"
    for stage in (build, final):
        assert DIGEST.match(stage.image), stage.image
    assert build.image == final.image  # the environment's python link points into the base


def test_pip_and_uv_stay_in_the_build_stage() -> None:
    build, final = stages(DOCKERFILE)
    assert any("pip install --no-cache-dir uv==" in run for run in build.all("RUN"))
    final_runs = " ".join(final.all("RUN"))
    assert "pip install" not in final_runs
    assert "uv " not in final_runs
    assert "pip uninstall --yes --quiet pip setuptools wheel" in final_runs
    assert final.all("COPY") == ["--from=build /app/.venv /app/.venv", "server.py ./"]


def test_readme_and_dockerfile_create_the_env_file_before_docker_run() -> None:
    readmes = [(ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "README.ko.md")]
    for content in (DOCKERFILE, *readmes):
        copy = content.index("cp .env.example .env")
        assert copy < content.index("docker run -p 8082:8082 --env-file .env glm-proxy")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_build_steps_make_an_environment_that_serves(tmp_path: Path) -> None:
    build, final = stages(DOCKERFILE)
    app = tmp_path / "app"
    app.mkdir()
    env = {**os.environ, **build.env()}
    env.pop("VIRTUAL_ENV", None)
    env.pop("UV_NO_CACHE")  # the image starts with no cache; here uv may use the machine's
    for word, text in build.instructions:
        if word == "COPY":
            *sources, _ = text.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, app / source)
                else:
                    shutil.copy2(ROOT / source, app / source)
        elif word == "RUN":
            if text.startswith("pip install"):  # uv itself: the machine has it (pinned below)
                version = text.rpartition("uv==")[2]
                assert subprocess.run(
                    ["uv", "--version"], capture_output=True, text=True, check=True
                ).stdout.startswith(f"uv {version}")
                continue
            step = subprocess.run(
                text, shell=True, cwd=app, env=env, capture_output=True, text=True, timeout=500
            )
            assert step.returncode == 0, f"RUN {text}\n{step.stderr[-3000:]}"
    # The final stage: only the environment and server.py.
    for path in app.iterdir():
        if path.name != ".venv":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copy2(ROOT / "server.py", app / "server.py")
    bin_dir = app / ".venv" / "bin"
    assert not [p.name for p in bin_dir.iterdir() if p.name in ("pip", "pip3", "uv", "uvx")]
    site = next((app / ".venv" / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("pip"))
    assert not list(site.glob("uv"))

    final_env = {**final.env(), "PORT": str(free_port()), "HOST": "127.0.0.1"}
    final_env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    [cmd] = final.all("CMD")
    process = subprocess.Popen(
        [str(bin_dir / json.loads(cmd)[0]), *json.loads(cmd)[1:]],
        cwd=app,
        env={**final_env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith(f"glm-proxy on http://127.0.0.1:{final_env['PORT']}/v1 -> ")
        [healthcheck] = final.all("HEALTHCHECK")
        check = healthcheck.partition(" CMD ")[2]
        for _ in range(100):  # the CMD's own 2 s timeout bounds each try
            result = subprocess.run(check, shell=True, env=final_env, capture_output=True)
            if result.returncode == 0:
                break
        assert result.returncode == 0, result.stderr
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
        if process.stderr is not None:
            process.stderr.close()
