#!/usr/bin/env bash
# Smoke check of a running compose stack, from the host (compose-check runs it once the stack is
# healthy): POST /predict, POST /events and an XADD, a batch job, each user's prediction read
# back, their rows in Postgres, and a bundle registered in MLflow and loaded back by alias.
#   bash scripts/smoke.sh            # after `docker compose up -d`; reads .env like compose does
# Needs the project's virtualenv (`make install`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || { echo "smoke: run \`make install\` first (needs $PYTHON)" >&2; exit 2; }
host=127.0.0.1
exec "$PYTHON" -m ops smoke \
  --url "http://$host:${API_PORT:-8000}" \
  ${API_KEY:+--api-key "$API_KEY"} \
  --redis-url "redis://$host:${REDIS_PORT:-6379}/0" \
  --database-url "postgresql+psycopg2://${POSTGRES_USER:-d7}:${POSTGRES_PASSWORD:-d7-local-only}@$host:${POSTGRES_PORT:-5432}/${POSTGRES_DB:-d7}" \
  --mlflow-uri "http://$host:${MLFLOW_PORT:-5000}" \
  --timeout "${SMOKE_TIMEOUT:-90}"
