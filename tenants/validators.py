"""Validation of a tenant's ScaiGrid key and base URL, shared by the API, the admin, the
commands and the services. Messages never quote the key.
"""

import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

MAX_API_KEY_CHARS = 512
MAX_BASE_URL_CHARS = 500
# Plain http is only for a ScaiGrid on this machine (development); anything else is https.
LOCAL_HTTP_HOSTS = frozenset({"localhost", "127.0.0.1"})
# Printable ASCII without space: the key travels in an HTTP header.
_API_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")
# Printable ASCII without space or backslash, which parsers disagree about.
_URL_PATTERN = re.compile(r"[\x21-\x5b\x5d-\x7e]+")


@sensitive_variables("api_key")
def scaigrid_api_key_validate(api_key: str) -> None:
    """Raise ValidationError unless `api_key` could be a ScaiGrid key. Messages never quote it."""
    if not api_key:
        raise ValidationError("The API key must not be empty.", code="blank")
    if len(api_key) > MAX_API_KEY_CHARS:
        raise ValidationError(
            f"The API key must be at most {MAX_API_KEY_CHARS} characters.", code="max_length"
        )
    if any(char.isspace() for char in api_key):
        raise ValidationError("The API key must not contain whitespace.", code="whitespace")
    if not _API_KEY_PATTERN.fullmatch(api_key):
        raise ValidationError("The API key must be printable ASCII.", code="invalid")


def scaigrid_base_url_validate(base_url: str) -> str:
    """The normalised base URL, or ValidationError unless it is safe to send a tenant's key to.

    The backend sends the tenant's key to this URL, so its host must be one of
    `SCAIGRID_ALLOWED_HOSTS` (exact names), without user info (`https://allowed@evil`), query or
    fragment, over https (plain http only for localhost/127.0.0.1).
    """

    def invalid(message: str) -> ValidationError:
        return ValidationError(message, code="invalid")

    if not base_url or len(base_url) > MAX_BASE_URL_CHARS:
        raise invalid(f"The base URL must be 1 to {MAX_BASE_URL_CHARS} characters.")
    if not _URL_PATTERN.fullmatch(base_url):
        raise invalid("The base URL must be ASCII, without spaces or backslashes.")
    try:
        parts = urlsplit(base_url)  # raises on brackets that do not make an IPv6 host
    except ValueError:
        raise invalid("The base URL has an invalid host or port.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise invalid("The base URL must start with https://.")
    if "@" in parts.netloc:
        raise invalid("The base URL must not contain user info (user@host).")
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        raise invalid("The base URL must not have a query or a fragment.")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise invalid("The base URL has an invalid host or port.") from None
    if not host:
        raise invalid("The base URL must name a host.")
    if host not in settings.SCAIGRID_ALLOWED_HOSTS:
        raise invalid(f"'{host}' is not an allowed ScaiGrid host (SCAIGRID_ALLOWED_HOSTS).")
    if scheme == "http" and host not in LOCAL_HTTP_HOSTS:
        raise invalid("The base URL must use https.")
    return urlunsplit((scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))
