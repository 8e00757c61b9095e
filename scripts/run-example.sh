#!/usr/bin/env bash
# Run the example FastAPI app (examples/fastapi_app) on http://127.0.0.1:${PORT:-8000}.
# Sessions go to a SQLite file (examples/fastapi_app/.data/sessions.db, or $SESSIONS_DB), to Redis
# when REDIS_URL is set, or to PostgreSQL/MariaDB when DATABASE_URL is set:
#
#   scripts/run-example.sh
#   REDIS_URL=redis://127.0.0.1:6379/0 PORT=8080 scripts/run-example.sh
#   DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/test scripts/run-example.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --constraint requirements/constraints.txt -e ".[all,standard]" jinja2 python-multipart

# Hide any password in the URLs.
if [[ -n "${REDIS_URL:-}" ]]; then
    echo "Session backend: Redis at $(sed -E 's#//[^/@]*@#//***@#' <<<"$REDIS_URL")"
elif [[ -n "${DATABASE_URL:-}" ]]; then
    echo "Session backend: SQL at $(sed -E 's#//[^/@]*@#//***@#' <<<"$DATABASE_URL")"
else
    echo "Session backend: SQLite file ${SESSIONS_DB:-examples/fastapi_app/.data/sessions.db}" \
        "(set REDIS_URL or DATABASE_URL to use Redis, PostgreSQL or MariaDB)"
fi
exec .venv/bin/uvicorn examples.fastapi_app.main:app --host 127.0.0.1 --port "${PORT:-8000}"
