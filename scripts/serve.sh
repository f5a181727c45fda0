#!/usr/bin/env bash
# The production stack on one machine, in the foreground (what `make serve` runs): checks that
# PostgreSQL and Redis are configured, migrates, collects static files, then runs every process of
# the Procfile (gunicorn, the Celery worker, Celery beat) until one of them exits or a SIGTERM/SIGINT
# comes. The signal is passed on to each process, and the script waits for all of them: gunicorn
# finishes the requests in flight, the worker finishes its running tasks and returns the ones it had
# reserved to the queue.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && export PATH="$PWD/.venv/bin:$PATH"

# The settings module reads .env too, so ask it rather than the environment.
python - <<'EOF'
import sys
from smolpix import settings

problems = []
if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    problems.append("DATABASE_URL (PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/smolpix)")
if not settings.CELERY_BROKER_URL:
    problems.append("REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
if problems:
    sys.exit("make serve runs the production stack, which needs " + " and ".join(problems) + ".")
EOF

python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0

pids=()
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z0-9_]+):[[:space:]]*(.+)$ ]] || continue
  echo "serve: starting ${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"
  bash -c "exec ${BASH_REMATCH[2]}" &
  pids+=($!)
done < Procfile

stopping=""
stop() {
  [ -n "$stopping" ] && return
  stopping=yes
  echo "serve: stopping (gunicorn finishes its requests, the worker its tasks)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
}
trap stop TERM INT

wait -n || true  # returns when a process exits, or when a signal has run `stop`
stop
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit "$status"
