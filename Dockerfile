# syntax=docker/dockerfile:1
# ack-compute-mcp as a container: streamable HTTP on 0.0.0.0:8765, non-root, state on a volume.
# Nothing secret is baked in: keys, tokens, the quote secret and the database URL come at run time from the
# environment or mounted files (deploy/README.md). Build: docker build -t ack-compute-mcp .

# --- build: the package and its PostgreSQL driver into a venv that the runtime stage copies whole ---
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server/ server/
COPY tools/ tools/
COPY cloud/ cloud/
COPY sandbox/ sandbox/
COPY references/ references/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install '.[postgres]' \
 && /opt/venv/bin/ack-compute-mcp --help >/dev/null

# --- runtime: no compiler, no pip cache, no source tree ---
FROM python:3.11-slim
# A fixed numeric UID/GID (not root): Kubernetes' runAsNonRoot can verify it, and a volume can be chowned to it.
RUN groupadd --system --gid 10001 ackcompute \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ack-compute-mcp --no-create-home \
      --shell /usr/sbin/nologin ackcompute \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/ack-compute-mcp
COPY --from=build /opt/venv /opt/venv
# The server keeps its state dir 0700 and chmods it on start, so it is a directory the server creates inside the
# volume (a mount point may belong to root); with a PostgreSQL ledger and ACK_COMPUTE_QUOTE_SECRET set, it holds
# nothing a replica must keep.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/ack-compute-mcp \
    ACK_COMPUTE_STATE_DIR=/var/lib/ack-compute-mcp/state
VOLUME ["/var/lib/ack-compute-mcp"]
WORKDIR /var/lib/ack-compute-mcp
USER 10001:10001
EXPOSE 8765
# /healthz is unauthenticated and outside the Host allowlist (server/app.py); no proxy for loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as u; o = u.build_opener(u.ProxyHandler({})); sys.exit(0 if o.open('http://127.0.0.1:8765/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["ack-compute-mcp"]
# Off loopback the server refuses to start without authentication (ACK_COMPUTE_HTTP_TOKENS_FILE, ..._HTTP_TOKEN or
# OAuth) and ACK_COMPUTE_ALLOWED_HOSTS: it says which to set, before a socket is opened.
CMD ["serve", "--http", "--host", "0.0.0.0", "--port", "8765"]
