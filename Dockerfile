# shoprec's image. Alone: `docker build -t shoprec . && docker run -p 8000:8000 shoprec` (SQLite in /data);
# with PostgreSQL: `docker compose up --build` (see docker-compose.yml).
FROM python:3.11-slim

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

WORKDIR /src

# Dependencies in their own cached layer: pyproject.toml and an empty package are all the install
# needs. The editable install maps `app` onto /src/app, where the real code lands below; editable
# also keeps migrations/ beside the package, where app.store.migrate looks for them.
COPY pyproject.toml ./
COPY app/__init__.py app/
RUN pip install -e .

# The code stays root-owned: the service user can read it, not change it.
COPY . .

VOLUME /data
USER 10001:10001
EXPOSE 8000

# Slim images have no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["shoprec", "serve", "--host", "0.0.0.0", "--port", "8000"]
