# syntax=docker/dockerfile:1
# Pasarela: the gateway as one slim, non-root image (docs/deploy.md). Build: docker build -t pasarela .
# The install and start steps below are the ones tests/unit/test_deploy.py runs in a fresh
# virtualenv (non-editable `pip install .`, then `pasarela serve` answering /healthz).

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# every dependency ships wheels for linux/amd64 and arm64 (lxml, cryptography, asyncpg, uvloop): no compiler
COPY pyproject.toml README.md LICENSE ./
COPY canonical ./canonical
COPY adapters ./adapters
COPY gateway ./gateway
COPY simulators ./simulators
COPY demo ./demo
COPY contracts ./contracts
RUN python -m venv /opt/pasarela \
    && /opt/pasarela/bin/pip install ".[postgres]"

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="pasarela" \
      org.opencontainers.image.description="Provider-agnostic e-invoicing gateway (DIAN, Hacienda)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 pasarela \
    && useradd --system --uid 10001 --gid pasarela --home-dir /var/lib/pasarela --create-home pasarela
COPY --from=build /opt/pasarela /opt/pasarela
ENV PATH="/opt/pasarela/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PASARELA_CONFIG=/etc/pasarela/tenants.toml
# SQLite paths in the tenants file are relative to this folder (mount a volume here, or use PostgreSQL)
WORKDIR /var/lib/pasarela
USER 10001:10001
EXPOSE 8000
# /healthz answers 200 once the store is migrated and the app serves; python: no curl in a slim image
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["pasarela"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
