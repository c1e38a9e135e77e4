"""The container files (Dockerfile, docker-compose.yml, .dockerignore) held against the app itself.

No Docker engine is needed: the files are parsed, and what they name (environment variables, ports,
health-check routes, commands) is checked against `Settings`, the routes and a live server, so a
renamed setting, route or port fails here rather than in a deployment.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from pydantic import AliasChoices
from sqlalchemy.engine import make_url

from app.config import Settings
from app.main import create_app
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
PORT = 8000

# Variables the Dockerfile sets for the interpreter, not for shoprec.
INTERPRETER_ENV = {"PYTHONUNBUFFERED"}


# --- Parsing -------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in dockerfile_args("ENV"):
        words = shlex.split(rest)
        if "=" not in words[0]:  # legacy form: ENV NAME value
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def exec_form(rest: str) -> list[str]:
    """The JSON-array form of CMD / HEALTHCHECK CMD; the shell form would hide quoting mistakes."""
    assert rest.startswith("["), f"use the exec (JSON array) form: {rest}"
    argv = json.loads(rest)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def dockerfile_healthcheck() -> list[str]:
    (rest,) = dockerfile_args("HEALTHCHECK")
    words = rest.split()
    while words[0].startswith("--"):
        words.pop(0)
    assert words[0] == "CMD", rest
    return exec_form(rest[rest.index("CMD") + len("CMD") :].strip())


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment(svc: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, in either compose form (mapping or list of NAME=value)."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def interpolate(value: str, host_env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME-default}`, from the host's environment."""

    def one(match: re.Match[str]) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        if name in host_env and not (op == ":-" and host_env[name] == ""):
            return host_env[name]
        return default

    return re.sub(r"\$\{(\w+)(:?-)?([^}]*)\}", one, value)


def app_environment(host_env: Mapping[str, str]) -> dict[str, str]:
    """What the app container sees: the image's ENV, then compose's environment over it."""
    env = dockerfile_env()
    env.update({name: interpolate(v, host_env) for name, v in environment(service("app")).items()})
    return env


def shoprec_calls(command: str | list[str]) -> list[list[str]]:
    """The `shoprec ...` invocations in a command, in order, looking inside `sh -c "a && b"`."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [
            part
            for chunk in re.split(r"&&|;", argv[2])
            for part in [shlex.split(chunk)]
            if part[:1] == ["shoprec"]
        ]
    return [argv] if argv[:1] == ["shoprec"] else []


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def healthcheck_url(argv: list[str]) -> str:
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(argv))
    return url


def healthchecks() -> dict[str, list[str]]:
    return {"compose app": service("app")["healthcheck"]["test"], "Dockerfile": dockerfile_healthcheck()}


def settings_env_names() -> set[str]:
    """Every environment variable name Settings reads: field names, or their aliases when given."""
    config = Settings.model_config
    prefix = config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + name)
    return names if config.get("case_sensitive") else {n.lower() for n in names}


# --- Compose shape -------------------------------------------------------------------------------


def test_compose_runs_db_and_app() -> None:
    services = compose()["services"]
    assert {name for name, spec in services.items() if not spec.get("profiles")} == {"db", "app"}
    assert service("db")["image"].split(":")[0] == "postgres"
    assert service("db")["image"].split(":")[1].split(".")[0] == "16"
    assert service("app")["build"] in (".", {"context": "."})


def test_the_scale_profile_rebuilds_on_its_spark_cluster() -> None:
    services = compose()["services"]
    scale = {name for name, spec in services.items() if "scale" in (spec.get("profiles") or [])}
    assert scale == {"spark-master", "spark-worker", "rebuilder"}
    rebuilder = service("rebuilder")
    env = environment(rebuilder)
    assert set(env) <= {name.upper() for name in Settings.model_fields}
    assert env["REBUILD_ENGINE"] == "spark"
    assert env["SPARK_MASTER"].startswith("spark://spark-master:")
    assert rebuilder["build"]["args"]["EXTRAS"] == "spark"
    assert "shoprec rebuild" in rebuilder["command"]
    master_port = service("spark-master")["command"].split("--port")[1].split()[0]
    assert env["SPARK_MASTER"].endswith(f":{master_port}")
    assert env["SPARK_MASTER"] in service("spark-worker")["command"]
    # the driver and the executors share the job's staging directory
    staging = env["SPARK_STAGING_DIR"]
    for name in ("rebuilder", "spark-worker"):
        assert any(v.endswith(f":{staging}") for v in service(name)["volumes"]), name


def test_app_waits_for_a_healthy_db() -> None:
    assert service("app")["depends_on"] == {"db": {"condition": "service_healthy"}}
    db = service("db")
    check = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in check
    assert option(check.split(), "-U") == environment(db)["POSTGRES_USER"]


def test_db_keeps_its_data_in_a_declared_named_volume() -> None:
    db_volumes = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service("db")["volumes"]
    ]
    mounts = dict(v.split(":")[:2] for v in db_volumes)
    source = {target: src for src, target in mounts.items()}.get("/var/lib/postgresql/data")
    assert source, f"nothing mounted on PostgreSQL's data directory: {db_volumes}"
    assert not source.startswith((".", "/", "~")), f"{source} is a bind mount, not a named volume"
    assert source in (compose().get("volumes") or {}), f"volume {source} is not declared at top level"


def test_database_url_reaches_the_db_service_with_its_credentials() -> None:
    url = make_url(app_environment({})["DATABASE_URL"])
    db = environment(service("db"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port or 5432) == ("db", 5432)
    assert url.username == db["POSTGRES_USER"]
    assert url.password == db["POSTGRES_PASSWORD"]
    assert url.database == db["POSTGRES_DB"]


# --- Ports and commands --------------------------------------------------------------------------


def published_ports(ports: list[Any]) -> list[tuple[int, int]]:
    """(host, container) pairs from short ("[ip:]host:container[/proto]") or long syntax."""
    pairs = []
    for entry in ports:
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
        else:
            *_, host, container = str(entry).split("/")[0].split(":")
            pairs.append((int(host), int(container)))
    return pairs


def test_one_port_everywhere() -> None:
    assert dockerfile_args("EXPOSE") == [str(PORT)]
    assert published_ports(service("app")["ports"]) == [(PORT, PORT)]
    serves = {
        "Dockerfile CMD": shoprec_calls(exec_form(dockerfile_args("CMD")[-1]))[-1],
        "compose command": shoprec_calls(service("app")["command"])[-1],
    }
    for where, argv in serves.items():
        assert argv[1] == "serve", where
        assert option(argv, "--port") == str(PORT), where
        assert option(argv, "--host") == "0.0.0.0", f"{where}: bind all interfaces inside a container"
    for where, check in healthchecks().items():
        assert urlsplit(healthcheck_url(check)).port == PORT, where


def test_compose_migrates_before_serving() -> None:
    calls = shoprec_calls(service("app")["command"])
    assert [argv[1] for argv in calls] == ["migrate", "serve"]
    assert "&&" in str(service("app")["command"]), "serve must not start when migrate fails"


@pytest.mark.skipif(not (ROOT / "app" / "cli.py").exists(), reason="app/cli.py not written yet")
@pytest.mark.parametrize("subcommand", ["migrate", "serve"])
def test_cli_accepts_the_commands_the_files_run(subcommand: str) -> None:
    calls = [*shoprec_calls(service("app")["command"]), *shoprec_calls(exec_form(dockerfile_args("CMD")[-1]))]
    options = {word for argv in calls if argv[1] == subcommand for word in argv[2:] if word.startswith("--")}
    # Called the way the `shoprec` console script calls it.
    runner = "import sys; from app.cli import main; sys.argv[0] = 'shoprec'; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", runner, subcommand, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for word in options:
        assert word in result.stdout, f"`shoprec {subcommand}` has no {word} option"


# --- Environment ---------------------------------------------------------------------------------


def test_every_variable_set_for_the_app_is_a_setting() -> None:
    known = settings_env_names()
    case = (lambda n: n) if Settings.model_config.get("case_sensitive") else str.lower
    set_by_files = set(app_environment({})) - INTERPRETER_ENV
    unknown = sorted(name for name in set_by_files if case(name) not in known)
    assert not unknown, f"not fields of app.config.Settings (so silently ignored): {unknown}"


def test_the_files_environment_configures_settings_as_meant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded through Settings itself, the values parse and land in the fields they are meant for."""
    env = app_environment({"API_WRITE_KEYS": "w1,w2", "API_READ_KEYS": "r1"})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.data_dir == Path("/data")
    assert settings.sqlalchemy_url == env["DATABASE_URL"]
    assert not settings.is_sqlite
    assert settings.api_write_keys == ["w1", "w2"]
    assert settings.api_read_keys == ["r1"]


def test_no_api_key_is_baked_in() -> None:
    """Keys come from the host only: a default key in the file would silently work in production."""
    env = app_environment({})
    assert env.get("API_WRITE_KEYS", "") == ""
    assert env.get("API_READ_KEYS", "") == ""


# --- Dockerfile ----------------------------------------------------------------------------------


def test_slim_python_311_base() -> None:
    base = dockerfile_args("FROM")[-1].split()[0]  # the stage that runs
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_runs_as_a_non_root_user_who_owns_the_data_volume() -> None:
    users = dockerfile_args("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1]
    assert user.split(":")[0] not in ("root", "0"), user
    order = [kw for kw, _ in dockerfile_instructions()]
    assert max(i for i, kw in enumerate(order) if kw == "USER") < order.index("CMD")

    data_dir = dockerfile_env()["SHOPREC_DATA_DIR"]
    volumes = [
        v
        for rest in dockerfile_args("VOLUME")
        for v in (json.loads(rest) if rest.startswith("[") else rest.split())
    ]
    assert data_dir in volumes
    assert any(f"chown {user} {data_dir}" in run for run in dockerfile_args("RUN")), (
        f"{data_dir} is not chowned to {user}: the service could not write to its volume"
    )


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM)."""
    out: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def test_multi_stage_build_installs_the_wheel_not_the_sources() -> None:
    build, runtime = stages()
    name = build[0][1].split()
    assert name[-2].upper() == "AS", "the build stage needs a name for the runtime stage to use"
    builds = [rest for kw, rest in build if kw == "RUN" and "pip wheel" in rest]
    assert builds and builds[-1].endswith("pip wheel --no-deps --wheel-dir /wheels .")
    # The code comes in after the dependencies' wheels: a code change rebuilds one wheel.
    order = [(kw, rest) for kw, rest in build]
    copy_app = order.index(("COPY", "app ./app"))
    assert any(kw == "RUN" and "pip wheel" in rest for kw, rest in order[:copy_app])

    runs = [rest for kw, rest in runtime if kw == "RUN"]
    (install,) = [rest for rest in runs if "pip install" in rest]
    assert f"from={name[-1]}" in install and "--no-index" in install
    # shoprec, with the extras the build asks for (EXTRAS=spark: the Spark rebuild engine)
    assert install.endswith(' "shoprec${EXTRAS:+[$EXTRAS]}"')
    assert " -e " not in install and "--editable" not in install
    copies = [rest for kw, rest in runtime if kw == "COPY"]
    assert copies == [], f"the runtime stage copies nothing from the source tree: {copies}"


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching rule wins).

    An approximation of Docker's matcher (fnmatch, a rule on a directory covers what is inside,
    a leading `**/` matches at any depth), enough for the rules this repository uses.
    """
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # a rule on a dir covers its files
        candidates = [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        if any(
            fnmatch.fnmatchcase(prefix, p) or (p != pattern and fnmatch.fnmatchcase(prefix.split("/")[-1], p))
            for prefix in prefixes
            for p in candidates
        ):
            ignored = not negate
    return ignored


def test_build_context_has_what_the_image_runs_from() -> None:
    # COPY sources must exist and be sent; the wheel carries app/, its migrations included.
    sources = [
        word
        for rest in dockerfile_args("COPY")
        if "--from=" not in rest
        for word in rest.split()[:-1]
        if not word.startswith("--")
    ]
    for source in [*sources, "app/main.py", "app/store/migrate.py", "app/migrations/env.py"]:
        if source == ".":
            continue
        assert (ROOT / source).exists(), f"{source} is copied but does not exist"
        assert not dockerignored(source), f".dockerignore drops {source}"
    # The host's virtualenv, dotenv file (Settings reads `.env` from the working directory) and
    # default SQLite data must not end up in the image.
    for leftover in (".venv/bin/python", ".env", "data/shoprec.db", ".git/HEAD", "app/__pycache__/main.pyc"):
        assert dockerignored(leftover), f".dockerignore lets {leftover} into the image"


# --- Health checks against the app --------------------------------------------------------------


def test_healthcheck_paths_are_routes_that_answer_200(client: TestClient) -> None:
    # The OpenAPI paths rather than `app.routes`: this FastAPI keeps included routers as opaque entries.
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for where, check in healthchecks().items():
        path = urlsplit(healthcheck_url(check)).path
        assert "get" in paths.get(path, {}), f"{where} probes {path}, which is no GET route"
        # Liveness, not readiness: a database blip must not mark the app container unhealthy.
        assert path == "/healthz", f"{where} probes {path}"
        response = client.get(path)
        assert response.status_code == 200, f"{where}: {path} answered {response.status_code}"


@pytest.fixture
def live_port(settings: Settings) -> Iterator[int]:
    """A real uvicorn server on a free local port, for running the health-check commands as-is."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=30)


def run_probe(where: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run a health-check command as written, pointed at `port` instead of the container's."""
    argv = healthchecks()[where]
    if argv[0] == "CMD":
        argv = argv[1:]
    assert argv[:2] == ["python", "-c"], "slim images have no curl: probe with python"
    code = argv[2].replace(f":{PORT}/", f":{port}/")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("where", ["Dockerfile", "compose app"])
def test_healthcheck_command_passes_when_up_and_fails_when_down(where: str, live_port: int) -> None:
    up = run_probe(where, live_port)
    assert up.returncode == 0, up.stderr
    assert run_probe(where, free_port()).returncode != 0, "the probe passes with nothing listening"
