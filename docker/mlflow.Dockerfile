# MLflow tracking server and model registry (the full `mlflow` package; the services use the
# lean `mlflow-skinny` client). Runs store and artifacts live in the /mlflow volume.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ARG MLFLOW_SPEC="mlflow>=3.1,<4"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true MLFLOW_PORT=5000
RUN pip install "${MLFLOW_SPEC}" \
    && useradd --system --uid 10002 --user-group --home-dir /mlflow --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlflow/artifacts && chown -R mlflow:mlflow /mlflow
USER mlflow
WORKDIR /mlflow
VOLUME /mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['MLFLOW_PORT'], timeout=4)"
CMD mlflow server --host 0.0.0.0 --port "${MLFLOW_PORT}" --workers 1 \
    --backend-store-uri sqlite:////mlflow/mlflow.db \
    --artifacts-destination /mlflow/artifacts --serve-artifacts
