"""The built wheel is the whole service: installed into a fresh virtualenv, away from the source
tree, it migrates a new SQLite store, serves, and answers /readyz (what `pip install .`, `pipx
install` and the Docker image's runtime stage all rely on).

The wheel is built with `python -m build` from a copy of the sources; the fresh virtualenv gets the
wheel itself but borrows its dependencies from this environment (a `.pth` line), so the test runs
offline and in seconds. That environment's editable `shoprec` cannot leak in: the `.pth` files of a
borrowed directory are not processed, and the wheel's own `app` comes first on the path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "app", src / "app", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("shoprec-*.whl")
    return built


def test_wheel_carries_the_migrations_and_the_dashboard(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {n for n in names if n.startswith("app/migrations/versions/") and n.endswith(".py")}
    sources = {
        f"app/migrations/versions/{p.name}" for p in (ROOT / "app/migrations/versions").glob("*.py")
    }
    assert sources and migrations == sources
    assert {"app/migrations/env.py", "app/migrations/script.py.mako"} <= names
    packaged = {n for n in names if n.startswith(("app/api/templates/", "app/api/static/"))}
    on_disk = {
        str(p.relative_to(ROOT))
        for folder in ("app/api/templates", "app/api/static")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert packaged == on_disk
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return root


def _env(data_dir: Path) -> dict[str, str]:
    # Only what a new operator's shell would have: no DATABASE_URL or keys from the test run.
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(data_dir), "SHOPREC_DATA_DIR": str(data_dir)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "operator"
    work.mkdir()
    yield work


def test_installed_package_is_the_wheel_not_the_sources(venv: Path, workdir: Path) -> None:
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", "import app.store.migrate as m; print(m.MIGRATIONS_DIR)"],
        cwd=workdir,
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    migrations = Path(result.stdout.strip())
    assert migrations.is_relative_to(venv), migrations
    assert not migrations.is_relative_to(ROOT)


def test_installed_cli_migrates_and_serves(venv: Path, workdir: Path) -> None:
    shoprec = str(venv / "bin" / "shoprec")
    env = _env(workdir)
    migrate = subprocess.run(
        [shoprec, "migrate"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    assert migrate.stdout.startswith("schema at revision "), migrate.stdout
    assert (workdir / "shoprec.db").is_file()

    port = _free_port()
    server = subprocess.Popen(
        [shoprec, "serve", "--port", str(port)],
        cwd=workdir,
        env={**env, "REBUILD_INTERVAL_SECONDS": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0][-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    assert response.status == 200
                    assert b'"status":"ready"' in response.read()
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the installed server never became ready"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
