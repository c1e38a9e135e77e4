# shoprec's image. Alone: `docker build -t shoprec . && docker run -p 8000:8000 shoprec` (SQLite in /data);
# with PostgreSQL: `docker compose up --build` (see docker-compose.yml). `--build-arg EXTRAS=spark` adds
# the Spark rebuild engine (pyspark, pyarrow, a Java runtime and the PostgreSQL JDBC driver).
#
# Two stages: `build` turns the sources into wheels (shoprec's and its dependencies'); the runtime
# stage installs them into a slim image that holds no source tree, no build tools and no pip cache.

FROM python:3.11-slim AS build

ARG EXTRAS=""
ARG PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# The dependencies' wheels in their own cached layer: only pyproject.toml decides them, so a change
# to the code rebuilds shoprec's wheel alone.
COPY pyproject.toml README.md ./
RUN mkdir app && touch app/__init__.py \
 && pip wheel --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}" \
 && rm /wheels/shoprec-*.whl

COPY app ./app
RUN pip wheel --no-deps --wheel-dir /wheels .


FROM python:3.11-slim

ARG EXTRAS=""
# Build-time pip settings: ARG rather than ENV, so they do not leak into the running container.
ARG PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

ENV PYTHONUNBUFFERED=1 \
    SHOPREC_DATA_DIR=/data

# A fixed numeric uid, so orchestrators (Kubernetes' runAsNonRoot) can see the user is not root.
RUN groupadd --system --gid 10001 shoprec \
 && useradd --system --uid 10001 --gid shoprec --no-create-home --home-dir /nonexistent shoprec \
 && mkdir -p /data \
 && chown 10001:10001 /data

# The wheels are mounted for this step only, not copied: they take no room in the image. The package
# (migrations and dashboard included) lands in site-packages, root-owned: the service user can
# read it, not change it.
RUN case ",$EXTRAS," in *,spark,*) \
      apt-get update \
      && apt-get install -y --no-install-recommends openjdk-17-jre-headless libpostgresql-jdbc-java \
      && rm -rf /var/lib/apt/lists/* ;; \
    esac
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "shoprec${EXTRAS:+[$EXTRAS]}"

VOLUME /data
USER 10001:10001
EXPOSE 8000

# Slim images have no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["shoprec", "serve", "--host", "0.0.0.0", "--port", "8000"]
