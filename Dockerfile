# syntax=docker/dockerfile:1
# One image, two entry points: `ploy-bot` (the trading bot) and `ploy-operator` (the kopf operator).
# The base is pinned by tag and by the digest of its multi-architecture index; dependabot bumps both.

# --- build: resolve the locked dependencies into a virtualenv, then install the project into it ---------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/ploy
RUN python -m pip install "uv==0.13.9"
WORKDIR /src
# Dependencies first (from the lock only): this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY bot/ bot/
COPY operator/ operator/
# --no-editable: the project is installed as a wheel, so the runtime stage needs no source tree.
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: the virtualenv only, owned by root and run by an unprivileged user -----------------------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
LABEL org.opencontainers.image.title="ploy" \
      org.opencontainers.image.description="Ploy: TradingBot operator (ploy-operator) and paper-trading bot (ploy-bot)" \
      org.opencontainers.image.source="https://github.com/ploy-dev/ploy" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ploy \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ploy
COPY --from=build /opt/ploy /opt/ploy
ENV PATH=/opt/ploy/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PLOY_HEALTHCHECK_URL=http://127.0.0.1:8080/health/live
# Numeric uid:gid, so Kubernetes can verify runAsNonRoot without resolving a user name.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# For `docker run` only (Kubernetes uses the pod's probes). The slim image has no curl: Python's urllib
# asks the bot's liveness endpoint; the operator's image users point PLOY_HEALTHCHECK_URL elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['PLOY_HEALTHCHECK_URL'], timeout=4)"]
CMD ["ploy-bot", "run"]
