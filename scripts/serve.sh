#!/usr/bin/env bash
# The production stack on one machine, in the foreground (what `make serve` runs): checks that
# PostgreSQL and Redis are configured and DEBUG is off, migrates, collects static files, then runs
# every process of the Procfile (gunicorn, the Celery worker, Celery beat), each under a small
# supervisor that restarts it when it dies (after 1 s, doubling to at most 30 s while it keeps
# dying, back to 1 s once it ran for a minute), so that one process lost is not an outage of the
# others. A SIGTERM/SIGINT stops gunicorn first, which finishes the requests in flight while the
# worker still optimizes their images, then the worker (it finishes its running tasks and returns
# the ones it had reserved to the queue) and beat; the script waits for all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && export PATH="$PWD/.venv/bin:$PATH"

# gunicorn reads WEB_CONCURRENCY itself, before its settings file, and takes set but empty for a
# number it cannot read: as unset, as every other setting is.
if [[ -v WEB_CONCURRENCY && -z "${WEB_CONCURRENCY//[[:space:]]/}" ]]; then unset WEB_CONCURRENCY; fi

# The settings module reads .env too, so ask it rather than the environment. gunicorn's settings are
# read here too: gunicorn itself reads WEB_CONCURRENCY before its settings file, and a value that is
# not a number ended each of its starts in a traceback, which the supervisor restarted for good.
python - <<'EOF'
import runpy
import sys
from smolpix.environment import Env

# Read from the environment alone, as supervise.sh reads it (the settings below read .env too): a
# value that is not a whole number ended every supervisor at its first restart, or logged a bash
# error at each; 0 would restart a process that keeps dying every second.
Env().int("SERVE_HEALTHY_RUN_SECONDS", default=60, minimum=1)
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
runpy.run_path("gunicorn.conf.py")
EOF

# Without DATABASE_TIMEOUT's bound: a migration may legitimately wait minutes for PostgreSQL.
DATABASE_TIMEOUT=0 python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0

# supervise NAME COMMAND: runs one Procfile entry until told to stop, restarting it when it exits.
source scripts/supervise.sh
# A closed output (`make serve | tee log`, the tee ended by Ctrl-C) must not end a script mid-stop:
# what it writes then fails instead (say), and so do the processes' own writes.
trap '' PIPE

# Each supervisor in a process group of its own (job control): a Ctrl-C in the terminal reaches this
# script alone, which stops the processes in order, instead of every process at once (gunicorn takes
# SIGINT for a quick shutdown, which drops the requests in flight).
set -m
supervisors=()
web=""
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z0-9_]+):[[:space:]]*(.+)$ ]] || continue
  supervise "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" &
  supervisors+=($!)
  [ "${BASH_REMATCH[1]}" = web ] && web=$!
done < Procfile

# Stopped together, the worker would return the jobs it had not started to the queue while gunicorn
# still waits on them: each such request was a 503 on every deploy. A second signal hurries: every
# process is told at once. (Any signal that would end this script is trapped: the processes, in
# groups of their own, would run on with nothing to stop them.)
stop() {
  trap 'kill -TERM "${supervisors[@]}" 2>/dev/null || true' TERM INT HUP QUIT
  kill -TERM "$web" 2>/dev/null || true
  say "serve: stopping gunicorn (it finishes its requests; the worker still optimizes their images)"
  while kill -0 "$web" 2>/dev/null; do wait "$web" || true; done
  kill -TERM "${supervisors[@]}" 2>/dev/null || true
  say "serve: stopping the worker (it finishes its tasks) and beat"
}
trap stop TERM INT HUP QUIT

# Supervisors end only when stopped; a signal interrupts `wait` (running `stop`): wait again until
# every supervisor has seen its process out.
for pid in "${supervisors[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
done
say "serve: stopped"
