"""The Spark rebuild engine (`REBUILD_ENGINE=spark`): the driver's side of `spark_job.py`.

It starts a Spark session on `SPARK_MASTER`, hands the job its events (PostgreSQL read over JDBC in
partitions by a hash of the shopper, or Parquet files), and reads the job's Parquet results back as
the arrays a serving model is made of. Everything after that (reasons, popularity order, categories,
item texts, persisting the version) is the local engine's own code, so a model version looks the
same whichever engine built it.

EASE is not distributed: it inverts an item x item Gram matrix, which has to fit one machine. The
Spark engine serves ALS (MLlib's blocked implementation); `ALGORITHM` values other than `als` and
`auto` are refused with the Spark engine rather than quietly replaced.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.config import Settings
from app.services.building.precompute import NEIGHBOURS_K
from app.services.building.spark_job import SparkJobParams, run_job
from app.shop import EVENT_TYPES, ConfidenceConfig
from app.store.event_arrays import read_event_arrays

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from app.store.event_arrays import EventArrays

CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass
class SparkModel:
    """What the cluster computed, as local arrays indexed by the sorted vocabularies."""

    user_ids: list[str]
    item_ids: list[str]
    X: sp.csr_matrix  # (n_users, n_items) float32 confidence
    top_items: np.ndarray  # int32 (n_users, n), -1 padded
    top_scores: np.ndarray  # float32 (n_users, n)
    neighbours: sp.csr_matrix  # (n_items, n_items) float32
    popularity: np.ndarray  # float64 per item
    n_events: int


def check_master(master: str) -> None:
    """Fail fast, with the address in the message, when a standalone master does not answer:
    Spark itself retries for a minute and then leaves the driver half-started."""
    if not master.startswith("spark://"):
        return
    for address in master[len("spark://") :].split(","):
        parsed = urlparse(f"spark://{address}")
        try:
            with socket.create_connection((parsed.hostname, parsed.port or 7077), CONNECT_TIMEOUT_SECONDS):
                return
        except OSError as exc:
            last = exc
    raise RuntimeError(f"Spark master {master} is unreachable: {last}")


@contextmanager
def spark_session(settings: Settings) -> Iterator[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the optional extra
        raise RuntimeError("REBUILD_ENGINE=spark needs pyspark: pip install 'shoprec[spark]'") from exc
    check_master(settings.spark_master)
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("shoprec-rebuild")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.spark_partitions))
        .config("spark.default.parallelism", str(settings.spark_partitions))
        .config("spark.driver.memory", settings.spark_driver_memory)
    )
    if settings.spark_master.startswith("local"):
        # One machine: the driver need not be reachable from any other (nor pick a public address).
        builder = builder.config("spark.driver.host", "127.0.0.1")
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
    if settings.spark_jdbc_jar and Path(settings.spark_jdbc_jar).exists():
        builder = builder.config("spark.jars", settings.spark_jdbc_jar)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def jdbc_events(spark: SparkSession, url: str, partitions: int, last_event_id: int) -> DataFrame:
    """The events up to `last_event_id`, read by `partitions` parallel queries, each one the
    shoppers of one hash bucket (so one shopper's events stay in one partition)."""
    parsed = make_url(url)
    jdbc_url = f"jdbc:postgresql://{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
    query = (
        "(SELECT user_id, item_id, type, value, extract(epoch FROM ts)::float8 AS ts, "
        f"(hashtext(user_id) & 2147483647) % {int(partitions)} AS bucket "
        f"FROM events WHERE id <= {int(last_event_id)}) AS e"
    )
    reader = (
        spark.read.format("jdbc")
        .option("url", jdbc_url)
        .option("driver", "org.postgresql.Driver")
        .option("dbtable", query)
        .option("partitionColumn", "bucket")
        .option("lowerBound", 0)
        .option("upperBound", int(partitions))
        .option("numPartitions", int(partitions))
        .option("fetchsize", 10_000)
        .option("user", parsed.username or "postgres")
    )
    if parsed.password:
        reader = reader.option("password", parsed.password)
    return reader.load().drop("bucket")


def write_events_parquet(events: EventArrays, directory: Path, rows_per_file: int = 1_000_000) -> int:
    """Events as Parquet files (user_id, item_id, type, value, ts): what `shoprec export events
    --format parquet` writes and the Spark engine reads. Ids are dictionary-encoded from the
    vocabularies, so no per-event Python string is built. Returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    users, items = pa.array(events.users.ids), pa.array(events.items.ids)
    types = pa.array(list(EVENT_TYPES))
    n = len(events)
    for part, start in enumerate(range(0, n, rows_per_file)):
        stop = min(start + rows_per_file, n)
        table = pa.table(
            {
                "user_id": pa.DictionaryArray.from_arrays(pa.array(events.user_codes[start:stop]), users),
                "item_id": pa.DictionaryArray.from_arrays(pa.array(events.item_codes[start:stop]), items),
                "type": pa.DictionaryArray.from_arrays(
                    pa.array(events.type_codes[start:stop].astype(np.int32)), types
                ),
                "value": pa.array(events.values[start:stop].astype(np.float64)),
                "ts": pa.array(events.timestamps[start:stop]),
            }
        )
        pq.write_table(table, directory / f"events-{part:05d}.parquet")
    return n


def export_events(engine: Engine, directory: Path) -> int:
    """`shoprec export events --format parquet DIR`: every stored event as Parquet files."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("exporting Parquet needs pyarrow: pip install 'shoprec[spark]'") from exc
    if directory.exists() and any(directory.iterdir()):
        raise RuntimeError(f"{directory} is not empty")
    with engine.connect() as connection:
        events = read_event_arrays(connection)
    return write_events_parquet(events, directory)


def fit_on_spark(
    settings: Settings,
    engine: Engine,
    events: EventArrays | None,
    last_event_id: int,
    config: ConfidenceConfig,
    params: SparkJobParams,
    *,
    lap: Callable[[str], None],
) -> SparkModel:
    """Run the job and read its results. `events` are the store's events already read on this
    machine (a SQLite store: they go to Spark as Parquet); None reads PostgreSQL over JDBC."""
    staging_root = Path(settings.spark_staging_dir or tempfile.gettempdir())
    staging = staging_root / f"shoprec-spark-{uuid.uuid4().hex}"
    try:
        with spark_session(settings) as spark:
            lap("spark_start")
            if events is None:
                url = engine.url.render_as_string(hide_password=False)
                frame = jdbc_events(spark, url, settings.spark_partitions, last_event_id)
            else:
                write_events_parquet(events, staging / "events")
                frame = spark.read.parquet(str(staging / "events"))
            n_events = run_job(spark, frame, config, params, str(staging), lap=lap)
        built = read_results(staging, params.top_n, n_events)
        lap("collect")
        return built
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _table(path: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _ids(path: Path, column: str) -> list[str]:
    t = _table(path)
    order = np.argsort(t["code"])
    if not np.array_equal(t["code"][order], np.arange(len(order))):
        raise RuntimeError(f"the Spark job's {column} codes are not contiguous")
    return [str(x) for x in t[column][order]]


def read_results(staging: Path, n: int, n_events: int) -> SparkModel:
    user_ids = _ids(staging / "users", "user_id")
    item_ids = _ids(staging / "items", "item_id")
    n_users, n_items = len(user_ids), len(item_ids)
    c = _table(staging / "confidence")
    X = sp.csr_matrix(
        (c["c"].astype(np.float32), (c["user"].astype(np.int64), c["item"].astype(np.int64))),
        shape=(n_users, n_items),
    )
    X.sort_indices()
    nb = _table(staging / "neighbours")
    neighbours = sp.csr_matrix(
        (nb["s"].astype(np.float32), (nb["item"].astype(np.int64), nb["neighbour"].astype(np.int64))),
        shape=(n_items, n_items),
    )
    neighbours.sort_indices()
    pop = _table(staging / "popularity")
    popularity = np.zeros(n_items, dtype=np.float64)
    popularity[pop["item"].astype(np.int64)] = pop["score"]
    top = _table(staging / "top")
    top_items = np.full((n_users, n), -1, dtype=np.int32)
    top_scores = np.zeros((n_users, n), dtype=np.float32)
    top_items[top["user"], top["rank"]] = top["item"]
    top_scores[top["user"], top["rank"]] = top["score"]
    return SparkModel(user_ids, item_ids, X, top_items, top_scores, neighbours, popularity, n_events)


def job_params(settings: Settings, als_params: dict[str, Any]) -> SparkJobParams:
    """The job's parameters: the ALS ones as the local model names them, the list length, and as
    many neighbours per item as the local engine keeps."""
    names = ("factors", "regularization", "iterations", "alpha")
    return SparkJobParams(
        top_n=settings.cache_size,
        neighbours_k=NEIGHBOURS_K,
        **{k: als_params[k] for k in names if k in als_params},
    )
