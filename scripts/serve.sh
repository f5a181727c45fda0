#!/usr/bin/env bash
# The production stack on one machine, in the foreground (what `make serve` runs): checks that
# PostgreSQL and Redis are configured and DEBUG is off, migrates, collects static files, then runs
# every process of the Procfile (gunicorn, the Celery worker, Celery beat), each under a small
# supervisor that restarts it when it dies (after 1 s, doubling to at most 30 s while it keeps
# dying, back to 1 s once it ran for a minute), so that one process lost is not an outage of the
# others. A SIGTERM/SIGINT is passed on to each process, and the script waits for all of them:
# gunicorn finishes the requests in flight whose image is being optimized, the worker finishes its
# running tasks and returns the ones it had reserved to the queue (their requests are answered 503).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && export PATH="$PWD/.venv/bin:$PATH"

# The settings module reads .env too, so ask it rather than the environment.
python - <<'EOF'
import sys
from smolpix import settings

problems = []
if settings.DEBUG:
    problems.append("DEBUG=false (Django's debug pages show settings and paths to anyone)")
if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    problems.append("DATABASE_URL (PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/smolpix)")
if not settings.CELERY_BROKER_URL:
    problems.append("REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
if problems:
    sys.exit("make serve runs the production stack, which needs " + " and ".join(problems) + ".")
EOF

# Without DATABASE_TIMEOUT's bound: a migration may legitimately wait minutes for PostgreSQL.
DATABASE_TIMEOUT=0 python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0

# supervise NAME COMMAND: runs one Procfile entry until told to stop, restarting it when it exits.
source scripts/supervise.sh

supervisors=()
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z0-9_]+):[[:space:]]*(.+)$ ]] || continue
  supervise "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" &
  supervisors+=($!)
done < Procfile

stop() {
  echo "serve: stopping (gunicorn finishes its requests, the worker its tasks)"
  kill -TERM "${supervisors[@]}" 2>/dev/null || true
}
trap stop TERM INT

# Supervisors end only when stopped; a signal interrupts `wait` (running `stop`): wait again until
# every supervisor has seen its process out.
for pid in "${supervisors[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
done
echo "serve: stopped"
