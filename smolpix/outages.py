"""What an outage of a backing service looks like from here: PostgreSQL, or Redis (the cache, the
Celery broker or its result store), unreachable or not answering in time. Every such error is
answered 503 with Retry-After (the API in JSON, pages with a page of their own), never a 500."""

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
