"""The Redis cache backend (scaiflow/core/cache.py): one client per pool, and outages.

The outage tests point the backend at a port that is bound but never listens: the operating
system refuses the connection, as it does for a Redis that is down. Recovery against a real
Redis that stops and starts again is in tests/reliability/test_infrastructure_outages.py.
"""

import logging
import socket
import time

import pytest
import redis

from scaiflow.core import cache as cache_module
from scaiflow.core.cache import RedisCache


def test_one_redis_client_serves_every_operation():
    # Building a client is lazy: no Redis server is needed to see which one is used.
    backend = RedisCache("redis://127.0.0.1:6379/0", {})
    client = backend._cache.get_client("a")
    assert backend._cache.get_client("b") is client
    assert backend._cache.get_client("c", write=True) is client  # one server: one pool


@pytest.fixture
def dead_redis():
    """A RedisCache whose Redis refuses connections; its outage state is its own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        location = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        yield lambda: RedisCache(location, {"TIMEOUT": 60})
        cache_module._outages.pop(location, None)


def test_an_unreachable_redis_is_answered_per_process(dead_redis, caplog):
    backend = dead_redis()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="scaiflow.cache"):
        assert backend.get("missing") is None
        assert backend.add("lock", 1) is True
        assert backend.add("lock", 1) is False  # the single-flight lock still holds
        backend.set("key", {"a": 1})
        assert backend.get("key") == {"a": 1}
        assert backend.get_or_set("other", 5) == 5
        assert backend.incr("other") == 6
        backend.delete("lock")
        assert backend.add("lock", 1) is True
    # Refused, not retried with backoff: well under a second for all of it.
    assert time.monotonic() - started < 1.0
    warnings = [r for r in caplog.records if r.name == "scaiflow.cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].exc_info is None
    assert "ConnectionError" in warnings[0].getMessage()


def test_every_thread_shares_the_fallback_and_the_one_warning(dead_redis, caplog):
    # Django keeps one cache object per thread: two objects stand for two threads.
    first, second = dead_redis(), dead_redis()
    with caplog.at_level(logging.WARNING, logger="scaiflow.cache"):
        first.set("key", "value")
        assert second.get("key") == "value"
        assert second.add("key", "other") is False
    assert len([r for r in caplog.records if r.name == "scaiflow.cache"]) == 1


def test_readiness_ping_reaches_redis_itself(dead_redis):
    backend = dead_redis()
    backend.set("key", "value")  # the fallback answers the cache calls ...
    with pytest.raises(redis.exceptions.ConnectionError):
        backend.ping()  # ... but not the readiness probe
