"""What an outage of a backing service looks like from here: PostgreSQL, or Redis (the cache, the
Celery broker or its result store), unreachable or not answering in time. Every such error is
answered 503 with Retry-After (the API in JSON, pages with a page of their own), never a 500."""

import math
import time

from django import db
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

DATABASE_DOWN = (db.OperationalError, db.InterfaceError)
REDIS_DOWN = (ConnectionInterrupted, BrokerUnreachable, RedisConnectionError, RedisTimeoutError)
OUTAGES = DATABASE_DOWN + REDIS_DOWN
# What a client is told to wait: a restarted service is usually back within that.
RETRY_AFTER_SECONDS = 30

# An outage meets every request: its traceback once a minute for each kind of error is enough (a
# PostgreSQL outage of 20 s wrote 1,748 of them, 10 MB of the log).
TRACEBACK_SECONDS = 60
_tracebacks: dict[type, float] = {}  # when each kind of outage last had its traceback logged


def traceback_due(error: BaseException) -> bool:
    """Whether `error`'s traceback is to be logged: none of its kind was in TRACEBACK_SECONDS."""
    now, kind = time.monotonic(), type(error)
    if now - _tracebacks.get(kind, -math.inf) < TRACEBACK_SECONDS:
        return False
    _tracebacks[kind] = now
    return True
