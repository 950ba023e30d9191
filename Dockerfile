# syntax=docker/dockerfile:1
# dermcad serving image: the API + web UI (`dermcad serve`) and the Celery workers
# (`dermcad worker`) of the distributed back end. No torch: published models are ONNX packages
# run by ONNX Runtime. The registry (/models) and the embedded queue's data (/data) are volumes.
#
#   docker build -t dermcad .
#   docker run -p 8000:8000 -v ./models:/models:ro dermcad
#
# GPU workers: docker build --build-arg ORT_PACKAGE=onnxruntime-gpu -t dermcad:gpu .
# and run them with DERMCAD_ONNX_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider
# (docs/deploy.md). Not built here: this repository's CI machine has no Docker engine.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG ORT_PACKAGE=onnxruntime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
# hadolint ignore=DL3013
RUN /opt/venv/bin/pip install -c constraints.txt ".[distributed]" \
    && if [ "$ORT_PACKAGE" != "onnxruntime" ]; then \
         /opt/venv/bin/pip uninstall -y onnxruntime \
         && /opt/venv/bin/pip install "$ORT_PACKAGE"; \
       fi

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DERMCAD_REGISTRY=/models \
    DERMCAD_DATA_DIR=/data \
    DERMCAD_HOST=0.0.0.0 \
    DERMCAD_PORT=8000
RUN groupadd --system --gid 10001 dermcad \
    && useradd --system --uid 10001 --gid dermcad --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin dermcad \
    && mkdir -p /models /data \
    && chown dermcad:dermcad /models /data
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME ["/models", "/data"]
EXPOSE 8000
# Liveness of the API (python's urllib: the slim image has no curl). Worker containers run
# `dermcad worker`; compose.yaml replaces this check with a Celery ping of the worker.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DERMCAD_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["dermcad", "serve"]
