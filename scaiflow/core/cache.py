"""The Redis cache backend: cheaper per call than Django's, and an outage is never an error.

Cheaper: Django's Redis client builds a new `redis.Redis` for every cache operation, and each
one copies redis-py's table of reply callbacks (about 170 entries): half the time of a cache
read on a warm connection. A `redis.Redis` is thread-safe and holds no connection of its own
(the pool does), so one per pool serves every operation.

Outages (SPEC §11: a cache outage is never an error): when Redis cannot be reached or
misbehaves, every cache operation of this process is answered by a local-memory cache instead
— the events cache, its single-flight lock (`add` is atomic there too), the deploy throttle and
the compile cache go on working per process, as they do in development. One WARNING says so
when the outage starts (not one per request, and no traceback), one INFO line when it ends.
Redis is tried again at most every `RETRY_SECONDS`; the first call that reaches it ends the
outage: shared behaviour resumes without a restart, and the local copy is dropped so no stale
lock or entry of the outage outlives it.

What an outage costs a caller: redis-py's own retries (ten, with backoff, by default) are cut to
one. A Redis that refuses connections (stopped, restarted) costs the callers that try it two
refused connections, well under a millisecond. A Redis host that does not answer at all (a
network partition, a host gone) costs each caller that tries it two socket timeouts, 2 s with
the default SOCKET_TIMEOUT_SECONDS (CACHE_URL's options override it): the first caller after each
RETRY_SECONDS, and every caller that reaches Redis in the same moment, waits that long before
the fallback answers; the callers in between are answered by the fallback at once.

django-redis's IGNORE_EXCEPTIONS was the other candidate; it answers every failed call with a
miss (`add` included, so no single-flight lock would ever be held) and logs each failure with
its traceback, which is what this module exists to avoid.

settings.py swaps this backend in for Django's when CACHE_URL names Redis.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

logger = logging.getLogger("scaiflow.cache")

# How long an unreachable Redis is left alone before a call tries it again.
RETRY_SECONDS = 1.0
# A call must not wait long on a Redis that does not answer (CACHE_URL options override these).
SOCKET_TIMEOUT_SECONDS = 1.0


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}  # id(pool) -> redis.Redis; pools live as long

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class _Outage:
    """Whether one Redis location is down, shared by all threads of the process (Django keeps
    a cache object per thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _outage_for(location: str) -> _Outage:
    with _outages_lock:
        return _outages.setdefault(location, _Outage())


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        params = {**params, "OPTIONS": dict(params.get("OPTIONS") or {})}
        options = params["OPTIONS"]
        # One retry: a pooled connection that went stale (Redis restarted) is replaced at once.
        options.setdefault("retry", Retry(NoBackoff(), 1))
        options.setdefault("socket_connect_timeout", SOCKET_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._outage = _outage_for(str(server))
        # LocMemCache instances of one name share their entries: every thread sees one copy.
        self._fallback = LocMemCache(f"scaiflow-fallback:{server}", params)

    def ping(self) -> None:
        """Reach Redis itself, never the fallback (readiness); raises when it is down."""
        self._cache.get_client(write=True).ping()

    # Every operation of Django's Redis backend, each answered by the fallback during an outage.
    # BaseCache builds the others (get_or_set, decr, the async ones) on these.

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().add, self._fallback.add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call(super().get, self._fallback.get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set, self._fallback.set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().touch, self._fallback.touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._call(super().delete, self._fallback.delete, key, version)

    def get_many(self, keys, version=None):
        return self._call(super().get_many, self._fallback.get_many, keys, version)

    def has_key(self, key, version=None):
        return self._call(super().has_key, self._fallback.has_key, key, version)

    def incr(self, key, delta=1, version=None):
        return self._call(super().incr, self._fallback.incr, key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set_many, self._fallback.set_many, data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call(super().delete_many, self._fallback.delete_many, keys, version)

    def clear(self):
        return self._call(super().clear, self._fallback.clear)

    def _call(self, on_redis, on_fallback, *args):
        """`on_redis(*args)`, or `on_fallback(*args)` while Redis is out of reach."""
        outage = self._outage
        if outage.down and time.monotonic() < outage.retry_at:
            return on_fallback(*args)
        try:
            result = on_redis(*args)
        except RedisError as exc:
            with outage.lock:
                outage.retry_at = time.monotonic() + RETRY_SECONDS
                started, outage.down = not outage.down, True
            if started:
                logger.warning(
                    "cache unreachable (%s): caches and the deploy throttle are per process "
                    "until it answers again",
                    type(exc).__name__,
                )
            return on_fallback(*args)
        if outage.down:
            with outage.lock:
                ended, outage.down = outage.down, False
            if ended:
                self._fallback.clear()
                logger.info("cache reachable again: caches and the deploy throttle are shared")
        return result
