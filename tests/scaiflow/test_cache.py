"""The Redis cache backend (scaiflow/cache.py)."""

from scaiflow.cache import RedisCache


def test_one_redis_client_serves_every_operation():
    # Building a client is lazy: no Redis server is needed to see which one is used.
    backend = RedisCache("redis://127.0.0.1:6379/0", {})
    client = backend._cache.get_client("a")
    assert backend._cache.get_client("b") is client
    assert backend._cache.get_client("c", write=True) is client  # one server: one pool
