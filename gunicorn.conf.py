"""gunicorn settings for Smolpix's web processes: `gunicorn -c gunicorn.conf.py` (see Procfile).

Every value can be changed through the environment variable named next to it (or the `.env` file,
read here as the Django settings read it).
"""

import os
import shutil
import tempfile
from pathlib import Path

from smolpix.environment import Env, read_env_file

read_env_file(Path(__file__).resolve().parent)
env = Env()

# gunicorn serves production, where Django's debug pages (settings, paths, code) must never be
# shown: here DEBUG is off unless set, and on is refused. (`make run` is for debugging.)
if env.bool("DEBUG", default=False):
    raise SystemExit("gunicorn refuses to serve with DEBUG on: set DEBUG=false (or leave it unset).")
os.environ["DEBUG"] = "false"  # for its workers' Django settings, where unset means on


wsgi_app = "smolpix.wsgi:application"
bind = env.str("GUNICORN_BIND", default="") or f"0.0.0.0:{env.int('PORT', default=8000, minimum=1)}"

# Worker class: threads. The web process serves two kinds of requests: short ones (pages, API keys,
# usage: milliseconds of CPU and a few queries) and optimizations, which spend seconds fetching a
# URL's image and waiting for a Celery worker to encode it (ImageMagick never runs in the web process). A sync worker
# would be held by each of those waits; a thread waiting on Redis or PostgreSQL releases the GIL, so
# a few processes with several threads each keep answering short requests while others wait, at a
# fraction of the memory of as many processes. gevent would give more waiting slots still, but
# monkey-patches psycopg, redis and Celery's result waiting, a risk this load does not call for.
# gthread, whose own error answers (a request it cannot parse) are JSON, and which gives a slow client
# deadlines to send its request in: smolpix/gunicorn_worker.py.
worker_class = "smolpix.gunicorn_worker.GuardedThreadWorker"
# Processes: one per core is enough, since the CPU-heavy work is done by Celery workers.
workers = env.int("WEB_CONCURRENCY", default=os.cpu_count() or 2, minimum=1)
# Threads per process: how many requests one process handles at once. Each thread may keep a
# PostgreSQL connection open (CONN_MAX_AGE), so workers * threads counts against max_connections.
threads = env.int("GUNICORN_THREADS", default=8, minimum=1)

# An optimization waits at most 110 s: OPTIMIZER_FETCH_TIMEOUT (10 s) for a URL's image,
# OPTIMIZER_QUEUE_TIMEOUT (10 s) for a worker, the task's hard time limit (CELERY_TASK_TIME_LIMIT,
# 60 s) and 30 s for its result (optimizer.jobs.RESULT_GRACE_SECONDS).
# On SIGTERM (a deploy, a scale-in) gunicorn stops accepting connections and gives the requests in
# flight this long to finish before it stops the workers.
graceful_timeout = env.int("GUNICORN_GRACEFUL_TIMEOUT", default=120, minimum=0)
# A worker whose main loop has not reported for this long is hung, and is replaced. (With threads the
# main loop keeps reporting while requests wait, so this is not a request timeout.)
timeout = env.int("GUNICORN_TIMEOUT", default=60, minimum=0)
# Kept-alive connections from the load balancer.
keepalive = env.int("GUNICORN_KEEPALIVE", default=5, minimum=0)
# Replace each worker after about this many requests, so slow memory growth cannot accumulate.
max_requests = env.int("GUNICORN_MAX_REQUESTS", default=1000, minimum=0)
max_requests_jitter = max_requests // 10
# The workers' heartbeat files on tmpfs, not on a disk that may stall.
worker_tmp_dir = "/dev/shm"  # noqa: S108
# X-Forwarded-Proto is believed only from these addresses (gunicorn reads FORWARDED_ALLOW_IPS too).
forwarded_allow_ips = ",".join(env.networks("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"]))

# Requests are logged by smolpix.middleware.RequestLogMiddleware (one JSON line each, with the
# request id and account), so no access log here; gunicorn's own messages are JSON lines too.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "smolpix.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {
        "gunicorn.error": {
            "handlers": ["console"],
            "level": env.log_level("LOG_LEVEL", default="INFO"),
            "propagate": False,
        }
    },
}

# gunicorn's control socket lives at one path per user, which two instances on a machine would share;
# signals (TERM, HUP, TTIN/TTOU) are all Smolpix needs.
control_socket_disable = True

# Django spools an upload over 2.5 MB to a temporary file, which a worker killed mid-request (its
# timeout, the kernel's OOM killer) left in /tmp for good: each worker writes them in a folder of its
# own, removed when the master sees the worker exit, else by the next worker to start (the master
# does not wait to reap the workers it kills when it stops, nor can a killed master).
UPLOADS = Path(tempfile.gettempdir()) / f"smolpix-uploads-{os.getuid()}"


def post_worker_init(worker) -> None:
    """In the worker, once Django is set up: its own folder for spooled uploads."""
    from django.conf import settings

    from smolpix.folders import own_folder

    settings.FILE_UPLOAD_TEMP_DIR = str(own_folder(UPLOADS))


def child_exit(server, worker) -> None:
    """In the master, for a worker that exited or was killed: what its requests had spooled."""
    shutil.rmtree(UPLOADS / str(worker.pid), ignore_errors=True)
