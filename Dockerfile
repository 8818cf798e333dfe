# The service image: one image, four commands (API, stream worker, rq worker, migrations).
#   docker build -t d7-revenue .
#   docker run d7-revenue                              # the API (python -m api) on $PORT
#   docker run d7-revenue python -m worker             # the stream worker
# Configuration comes from environment variables only (see .env.example); nothing secret is
# baked in. EXTRAS=mlflow (the default) adds the registry client for MODEL_URI.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: every dependency as a wheel, then a virtualenv installed from those wheels only --
FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=mlflow
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies first (from pyproject.toml alone), so a code change does not download them again.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in '${EXTRAS}'.split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
        > requirements.txt \
    && pip wheel --wheel-dir /wheels -r requirements.txt
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels "d7-revenue${EXTRAS:+[$EXTRAS]}" \
    && /opt/venv/bin/pip uninstall --yes pip

# --- runtime: the virtualenv, the model bundle, a non-root user; no compiler, no wheels ---------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODEL_DIR=/app/models/d7 \
    PORT=8000
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY alembic.ini ./
COPY models/ ./models/
USER app
EXPOSE 8000
# The API's liveness; compose gives the worker and rq services checks of their own.
HEALTHCHECK --interval=20s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python", "-m", "ops", "health", "api"]
CMD ["python", "-m", "api"]
