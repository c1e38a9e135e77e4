"""The Spark rebuild's distributed part: events in, the model's arrays out, in partitions.

The same artifacts as the local engine, by the same formulas, so the servers cannot tell the engines
apart:

- confidence ``C[u, i] = log1p(sum of w(e) * d(e))`` (`app/recommender/matrix.py`), with the same
  weights, rating scale and half-life;
- the vocabularies are the sorted unique ids (code = rank), as `Vocabulary.fit` gives them;
- item neighbours are cosine similarities with shrinkage on the co-occurrence count, the top ``k``
  per item (`app/recommender/itemknn.py`), computed by a self-join of the confidence table on the
  shopper, so no item x item matrix is ever collected;
- popularity is distinct shoppers per item, ties broken by total confidence;
- the shoppers' lists come from MLlib's blocked ALS with implicit feedback (Hu, Koren, Volinsky
  2008; MLlib weighs an entry ``1 + alpha * C`` where `implicit` weighs ``alpha * C``), every item the
  shopper touched excluded, the top ``n`` kept per shopper with a window.

Each result is written as Parquet under a staging directory that the driver and the executors share;
the driver then reads the files with pyarrow (`app/services/spark_engine.py`) instead of pulling
millions of rows through Py4J.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.recommender.matrix import SECONDS_PER_DAY
from app.shop import ConfidenceConfig

if TYPE_CHECKING:  # pyspark is an optional extra: imported where a job runs
    from pyspark.sql import DataFrame, SparkSession

# A shopper's most confident items taken into the co-occurrence self-join: bounds the pairs one
# shopper contributes (n^2) when a few accounts touch thousands of items. Not a cap on the lists.
MAX_ITEMS_PER_SHOPPER_IN_PAIRS = 500


@dataclass(frozen=True)
class SparkJobParams:
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 10.0
    seed: int = 0
    neighbours_k: int = 50
    shrinkage: float = 10.0
    top_n: int = 100
    blocks: int = 0  # ALS user/item blocks; 0: Spark's default parallelism


def _scalar(frame: DataFrame) -> Any:
    """The one value of a one-row, one-column aggregate (None on no rows)."""
    row = frame.first()
    return None if row is None else row[0]


def confidence(events: DataFrame, config: ConfidenceConfig) -> DataFrame:
    """(user_id, item_id, c) with c > 0, from events (user_id, item_id, type, value, ts seconds)."""
    from pyspark.sql import functions as F

    span = config.rating_max - config.rating_neutral
    rating = F.lit(config.rating_weight) * F.greatest(
        F.lit(0.0), (F.coalesce(F.col("value"), F.lit(0.0)) - F.lit(config.rating_neutral)) / F.lit(span)
    )
    w = (
        F.when(F.col("type") == "view", F.lit(config.view))
        .when(F.col("type") == "add_to_cart", F.lit(config.add_to_cart))
        .when(F.col("type") == "purchase", F.lit(config.purchase))
        .when(F.col("type") == "rating", rating)
        .otherwise(F.lit(0.0))
    )
    weighted = events.select("user_id", "item_id", w.cast("double").alias("w"), "ts")
    if config.half_life_days is not None:
        newest = _scalar(weighted.agg(F.max("ts")))
        if newest is not None:
            age_days = (F.lit(float(newest)) - F.col("ts")) / F.lit(SECONDS_PER_DAY)
            weighted = weighted.withColumn(
                "w", F.col("w") * F.pow(F.lit(2.0), -age_days / config.half_life_days)
            )
    summed = weighted.groupBy("user_id", "item_id").agg(F.sum("w").alias("s"))
    c = F.log1p(F.col("s") / F.lit(config.saturation_alpha)) if config.saturation_alpha else F.col("s")
    # float32 as the local matrix stores it, so equal formulas give equal values
    return summed.select("user_id", "item_id", c.cast("float").alias("c")).where(F.col("c") > 0)


def vocabulary(spark: SparkSession, ids: DataFrame, column: str) -> DataFrame:
    """(id, code): the distinct ids sorted, code = rank (the local `Vocabulary.fit` order)."""
    ordered = ids.select(column).distinct().orderBy(column)
    # zipWithIndex numbers rows in partition order, which orderBy made the sorted order.
    rdd = ordered.rdd.zipWithIndex().map(lambda pair: (pair[0][0], pair[1]))
    return spark.createDataFrame(rdd, f"{column} string, code int")


def item_neighbours(C: DataFrame, k: int, shrinkage: float) -> DataFrame:
    """(item, neighbour, s): the top-``k`` cosine neighbours with shrinkage of each item code."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    norms = C.groupBy("item").agg(F.sqrt(F.sum(F.col("c") * F.col("c"))).alias("norm"))
    by_shopper = Window.partitionBy("user").orderBy(F.col("c").desc(), F.col("item"))
    capped = (
        C.withColumn("r", F.row_number().over(by_shopper))
        .where(F.col("r") <= MAX_ITEMS_PER_SHOPPER_IN_PAIRS)
        .drop("r")
    )
    a, b = capped.alias("a"), capped.alias("b")
    pairs = (
        a.join(b, F.col("a.user") == F.col("b.user"))
        .where(F.col("a.item") != F.col("b.item"))
        .groupBy(F.col("a.item").alias("item"), F.col("b.item").alias("neighbour"))
        .agg(
            F.sum(F.col("a.c").cast("double") * F.col("b.c")).alias("dot"),
            F.count(F.lit(1)).alias("n"),
        )
    )
    norm_a = norms.select(F.col("item").alias("ia"), F.col("norm").alias("norm_a"))
    norm_b = norms.select(F.col("item").alias("ib"), F.col("norm").alias("norm_b"))
    s = F.col("dot") / (F.col("norm_a") * F.col("norm_b")) * (F.col("n") / (F.col("n") + F.lit(shrinkage)))
    scored = (
        pairs.join(norm_a, F.col("item") == F.col("ia"))
        .join(norm_b, F.col("neighbour") == F.col("ib"))
        .select(F.col("item"), F.col("neighbour"), s.cast("float").alias("s"))
        .where(F.col("s") > 0)
    )
    best = Window.partitionBy("item").orderBy(F.col("s").desc(), F.col("neighbour"))
    return scored.withColumn("r", F.row_number().over(best)).where(F.col("r") <= k).drop("r")


def popularity(C: DataFrame) -> DataFrame:
    """(item, score): distinct shoppers per item plus total confidence / (largest total + 1)."""
    from pyspark.sql import functions as F

    per_item = C.groupBy("item").agg(F.count(F.lit(1)).alias("n"), F.sum("c").alias("total"))
    largest = _scalar(per_item.agg(F.max("total"))) or 0.0
    return per_item.select("item", (F.col("n") + F.col("total") / F.lit(largest + 1.0)).alias("score"))


def als_top_n(C: DataFrame, touched: DataFrame, params: SparkJobParams) -> DataFrame:
    """(user, rank, item, score): each shopper's best ``top_n`` untouched items under MLlib ALS."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    blocks = params.blocks or C.sparkSession.sparkContext.defaultParallelism
    als = ALS(
        rank=params.factors,
        maxIter=params.iterations,
        regParam=params.regularization,
        alpha=params.alpha,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="c",
        seed=params.seed,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        coldStartStrategy="drop",
        checkpointInterval=5,
    )
    model = als.fit(C)
    # Ask for enough candidates that the touched items can be dropped and n still remain.
    most_touched = _scalar(touched.groupBy("user").count().agg(F.max("count"))) or 0
    candidates = model.recommendForAllUsers(params.top_n + int(most_touched))
    flat = candidates.select("user", F.explode("recommendations").alias("r")).select(
        "user", F.col("r.item").alias("item"), F.col("r.rating").cast("float").alias("score")
    )
    fresh = flat.join(touched, ["user", "item"], "left_anti")
    order = Window.partitionBy("user").orderBy(F.col("score").desc(), F.col("item"))
    return (
        fresh.withColumn("rank", F.row_number().over(order) - 1)
        .where(F.col("rank") < params.top_n)
        .select("user", "rank", "item", "score")
    )


def run_job(
    spark: SparkSession,
    events: DataFrame,
    config: ConfidenceConfig,
    params: SparkJobParams,
    staging: str,
    *,
    lap: Callable[[str], None] = lambda stage: None,
) -> int:
    """Every distributed stage, each result written as Parquet under ``staging``; returns the
    number of events read. ``lap`` is called after each stage with its name."""

    # ALS's lineage grows with every iteration; checkpoints cut it (else a stack overflow past ~15).
    spark.sparkContext.setCheckpointDir(f"{staging}/checkpoints")
    events = events.cache()
    users = vocabulary(spark, events, "user_id").cache()
    items = vocabulary(spark, events, "item_id").cache()
    coded = (
        confidence(events, config)
        .join(items, "item_id")
        .withColumnRenamed("code", "item")
        .join(users, "user_id")
        .withColumnRenamed("code", "user")
        .select("user", "item", "c")
        .cache()
    )
    touched = (
        events.select("user_id", "item_id")
        .distinct()
        .join(items, "item_id")
        .withColumnRenamed("code", "item")
        .join(users, "user_id")
        .withColumnRenamed("code", "user")
        .select("user", "item")
    )
    n_events = events.count()
    users.write.mode("overwrite").parquet(f"{staging}/users")
    items.write.mode("overwrite").parquet(f"{staging}/items")
    coded.write.mode("overwrite").parquet(f"{staging}/confidence")
    lap("read")  # the read, the vocabularies and the confidence values: Spark runs them here
    popularity(coded).write.mode("overwrite").parquet(f"{staging}/popularity")
    item_neighbours(coded, params.neighbours_k, params.shrinkage).write.mode("overwrite").parquet(
        f"{staging}/neighbours"
    )
    lap("neighbours")
    als_top_n(coded, touched, params).write.mode("overwrite").parquet(f"{staging}/top")
    lap("fit")  # ALS and each shopper's list
    return n_events
