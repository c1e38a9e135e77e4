"""Typed settings, read once from the environment (and an optional `.env` file).

Every environment variable shoprec honours is a field here; the README's configuration table lists
them. Nothing else in the code base reads `os.environ`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.shop import ConfidenceConfig


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Storage
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; default: a SQLite file in the data directory.",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        validation_alias=AliasChoices("SHOPREC_DATA_DIR", "data_dir"),
        description="Directory for the default SQLite store and lock files.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations at start; default: on for SQLite, off for other stores.",
    )

    # Events
    rating_max: float = Field(default=5.0, gt=0, description="Largest accepted rating value.")
    max_batch_events: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Model and rebuilds
    algorithm: str = Field(default="auto", description="Model to serve, or 'auto'.")
    rebuild_interval_seconds: float = Field(default=300, ge=0, description="0 disables the timer.")
    rebuild_worker: Literal["process", "thread"] = Field(
        default="process", description="Run rebuilds in a child process (default) or a thread."
    )
    rebuild_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Niceness added to the rebuild process: its maths yields the CPU to requests.",
    )
    cache_size: int = Field(default=100, ge=1, le=1000)
    answer_cache_shoppers: int = Field(
        default=50_000,
        ge=0,
        description="Shoppers whose serialised recommendation answers are kept for reuse (0: none).",
    )
    poll_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often a server picks up others' writes and models."
    )
    weight_view: float | None = Field(default=None, ge=0, description="Default: the model's (1).")
    weight_add_to_cart: float | None = Field(default=None, ge=0, description="Default: the model's (3).")
    weight_purchase: float | None = Field(default=None, ge=0, description="Default: the model's (5).")
    half_life_days: float | None = Field(default=None, gt=0, description="Time decay; default: none.")
    tune_every: int = Field(
        default=10, ge=0, description="With ALGORITHM=auto, select the model every N rebuilds; 0 = never."
    )
    tune_budget_seconds: float = Field(
        default=20, gt=0, description="Work budget of one selection, in seconds estimated from the data."
    )

    # Rebuild engine
    rebuild_engine: Literal["local", "spark"] = Field(
        default="local", description="Build models on this machine (local) or on a Spark cluster (spark)."
    )
    spark_master: str = Field(default="local[*]", description="Spark master URL (REBUILD_ENGINE=spark).")
    spark_partitions: int = Field(default=8, ge=1, description="Partitions of the Spark job's reads.")
    spark_driver_memory: str = Field(default="2g", description="Memory of the Spark driver process.")
    spark_staging_dir: Path | None = Field(
        default=None,
        description="Directory shared by the Spark driver and executors for the job's files; default /tmp.",
    )
    spark_jdbc_jar: str = Field(
        default="/usr/share/java/postgresql.jar",
        description="PostgreSQL JDBC driver jar the Spark job reads the events with.",
    )

    # Merchandising
    session_ttl_days: float = Field(
        default=30, gt=0, description="Anonymous sessions inactive this long are erased with their events."
    )
    trending_min_shoppers: int = Field(
        default=5, ge=1, description="Distinct shoppers an item needs within the window to trend."
    )

    # HTTP
    api_write_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_read_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    request_timeout_seconds: float = Field(default=30, gt=0)
    log_level: str = "info"
    log_format: Literal["human", "json"] = Field(
        default="human", description="`human`: readable lines; `json`: one JSON object a line."
    )
    access_log: bool = Field(default=False, description="Log one line per request (method, path, status).")
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description="Where server processes share metrics; `shoprec serve --workers N` makes one if unset.",
    )

    @field_validator("api_write_keys", "api_read_keys", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Heroku-style URLs name no driver; shoprec speaks psycopg 3.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{(self.data_dir / 'shoprec.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_write_keys or self.api_read_keys)

    def confidence_config(self) -> ConfidenceConfig:
        """The confidence formula's weights: the shop's defaults, overridden by these settings."""
        # Ratings above the middle of the scale are positive evidence, whatever the scale.
        overrides: dict[str, Any] = {"rating_max": self.rating_max, "rating_neutral": self.rating_max / 2}
        for name in ("view", "add_to_cart", "purchase"):
            value = getattr(self, f"weight_{name}")
            if value is not None:
                overrides[name] = value
        if self.half_life_days is not None:
            overrides["half_life_days"] = self.half_life_days
        return ConfidenceConfig(**overrides)
