"""Rebuild engines side by side: the local engine, Spark `local[2]`, and a standalone Spark cluster.

For each size a fresh PostgreSQL store is loaded by COPY (setup, not measured; shoppers = events /
20, items as given, taste clusters and a long tail), then, in the same run and on the same store,
`shoprec rebuild` in a child process with each engine:

- `local`: the default engine, refitting ALS (`ALGORITHM=als`, the model both engines build);
- `spark local[2]`: `REBUILD_ENGINE=spark`, the driver and two executor threads in one JVM;
- `spark cluster`: a master and two workers (one core each) started on 127.0.0.1 from pyspark's
  own `spark-class`, the job submitted to `spark://127.0.0.1:<port>`.

Each row gives the stages the rebuild records, the total, and the peak RSS of the rebuild's Python
process and of the largest JVM it or the cluster ran (sampled every 0.2 s over the process tree).
The last table gives each engine's time ratio between the two largest sizes (target <= 4.5 per 4x).

    .venv/bin/python benchmarks/scale.py                            # 1M and 4M events
    .venv/bin/python benchmarks/scale.py --events 1000000 4000000 16000000 --items 100000
    .venv/bin/python benchmarks/scale.py --engines local spark-local --events 250000

Needs the spark extra (`pip install -e '.[spark]'`), a Java runtime and the PostgreSQL JDBC driver
(`apt-get install libpostgresql-jdbc-java`). The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._shop import synthetic_shop  # noqa: E402
from benchmarks._store import PYTHON, ROOT, drop_database, load_store  # noqa: E402
from benchmarks._tables import table, verdict  # noqa: E402
from tests.servers import free_port, server_env  # noqa: E402

DB = "shoprec_bench_scale"
ENGINES = ("local", "spark-local", "spark-cluster")
REBUILD = (
    "import json\n"
    "from app.config import Settings\n"
    "from app.services.building.rebuild import run_rebuild\n"
    "r = run_rebuild(Settings(), tune=False)\n"
    "print(json.dumps({'status': r.status, 'stages': r.stages}))\n"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, nargs="+", default=[1_000_000, 4_000_000])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--users-per-event", type=float, default=1 / 20)
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--worker-memory", default="3g", help="memory of each standalone worker")
    args = p.parse_args()

    results: list[dict[str, Any]] = []
    cluster = _Cluster(args.worker_memory) if "spark-cluster" in args.engines else None
    try:
        if cluster is not None:
            cluster.start()
        for n in args.events:
            t = time.perf_counter()
            users = max(1, int(n * args.users_per_event))
            url = load_store(DB, synthetic_shop(n, users, args.items))
            print(f"{n:,} events, {users:,} shoppers loaded in {time.perf_counter() - t:.0f} s", flush=True)
            for engine in args.engines:
                settings: dict[str, Any] = {"algorithm": "als"}
                if engine != "local":
                    settings.update(
                        rebuild_engine="spark",
                        spark_master=cluster.master if engine == "spark-cluster" and cluster else "local[2]",
                        spark_partitions=8,
                    )
                extra = [c.pid for c in cluster.procs] if engine == "spark-cluster" and cluster else []
                row = _rebuild(url, settings, extra)
                row.update(events=n, shoppers=users, engine=engine)
                results.append(row)
                print(f"  {engine}: {row['total']:.1f} s {row['stages']}", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
        drop_database(DB)

    stage_names: list[str] = []
    for r in results:
        stage_names += [s for s in r["stages"] if s not in stage_names]
    print()
    print(
        table(
            ["events", "shoppers", "engine", *stage_names, "total s", "python RSS MB", "JVM RSS MB"],
            [
                [
                    r["events"], r["shoppers"], r["engine"], *(r["stages"].get(s, "") for s in stage_names),
                    r["total"], r["python_mb"], r["jvm_mb"],
                ]
                for r in results
            ],
        )
    )
    sizes = sorted({r["events"] for r in results})
    if len(sizes) >= 2:
        small, big = sizes[-2], sizes[-1]
        rows = []
        for engine in args.engines:
            t = {r["events"]: r["total"] for r in results if r["engine"] == engine}
            ratio = t[big] / t[small]
            target = 4.5 * (big / small) / 4
            step = f"{big // small}x events"
            rows.append([engine, step, f"{ratio:.2f}", f"<= {target:.1f}", verdict(ratio <= target)])
        print()
        print(table(["engine", "size step", "time ratio", "target", "kept"], rows))
    return 0


def _rebuild(url: str, settings: dict[str, Any], cluster_pids: list[int]) -> dict[str, Any]:
    """One `run_rebuild` in a child process, the peak RSS of its process tree (and of the cluster's
    processes, executors included) sampled meanwhile."""
    env = server_env(url, **settings)
    proc = subprocess.Popen(
        [PYTHON, "-c", REBUILD], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with _peak_rss([proc.pid, *cluster_pids]) as peaks:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    stages = result["stages"]
    return {
        "stages": stages,
        "total": round(sum(stages.values()), 1),
        "python_mb": round(peaks.get("python", 0.0)),
        "jvm_mb": round(peaks.get("java", 0.0)) or "",
    }


@contextmanager
def _peak_rss(roots: list[int], interval: float = 0.2) -> Iterator[dict[str, float]]:
    """Peak resident memory (MB) of one process per kind (`python`, `java`) in the trees under
    `roots`."""
    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in _tree(roots):
                kind, rss = _rss(pid)
                if kind:
                    peaks[kind] = max(peaks.get(kind, 0.0), rss)
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


def _tree(roots: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _rss(pid: int) -> tuple[str | None, float]:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None, 0.0
    name = fields.get("Name", "").strip()
    kind = "java" if name == "java" else "python" if name.startswith("python") else None
    return kind, int(fields.get("VmRSS", "0 kB").split()[0]) / 1024


class _Cluster:
    """A standalone master and two one-core workers on 127.0.0.1, from pyspark's `spark-class`."""

    def __init__(self, worker_memory: str) -> None:
        import pyspark

        self.spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
        self.port = free_port()
        self.master = f"spark://127.0.0.1:{self.port}"
        self.worker_memory = worker_memory
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
        master = [self.spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                  "--port", str(self.port), "--webui-port", str(free_port())]
        self.procs.append(self._launch(master, env))
        time.sleep(5)
        for _ in range(2):
            worker = [self.spark_class, "org.apache.spark.deploy.worker.Worker", self.master, "--cores", "1",
                      "--memory", self.worker_memory, "--host", "127.0.0.1", "--webui-port", str(free_port())]
            self.procs.append(self._launch(worker, env))
        time.sleep(5)

    @staticmethod
    def _launch(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
