"""`SCAIGRID_ALLOWED_HOSTS`: where a tenant's ScaiGrid key may be sent.

An entry names a host and, optionally, a scheme, a port and a path prefix:
`scaigrid.example.com` (https, port 443, no path) or `http://127.0.0.1:8765` (plain http, that
port). A base URL matches an entry when its scheme, host, port (the scheme's default port when
none is written) and path (a trailing slash aside) are the entry's. Plain Python: settings.py
checks every entry with it at start-up.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


class Origin(NamedTuple):
    """Where a request goes: scheme, lowercase host, port (explicit or default), path."""

    scheme: str
    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def origin_parse(url: str) -> Origin:
    """`url`'s Origin; ValueError (a reason to show) when it has none or carries more."""
    try:
        parts = urlsplit(url)  # raises on brackets that do not make an IPv6 host
        port = parts.port  # raises on a port that is no number or out of range
        host = parts.hostname
    except ValueError:
        raise ValueError("it has an invalid host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("it must start with https:// (or http://)")
    if not host:
        raise ValueError("it must name a host")
    if "@" in parts.netloc:
        raise ValueError("it must not contain user info (user@host)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError("it must not have a query or a fragment")
    return Origin(scheme, host, port or DEFAULT_PORTS[scheme], parts.path.rstrip("/"))


@lru_cache(maxsize=256)
def allowed_entry_parse(entry: str) -> Origin:
    """An SCAIGRID_ALLOWED_HOSTS entry's Origin; without a scheme it is https."""
    entry = entry.strip()
    return origin_parse(entry if "://" in entry else f"https://{entry}")
