"""Validation of a tenant's ScaiGrid key and base URL, shared by the API, the admin, the
commands and the services. Messages never quote the key.
"""

import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from scaiflow.core.allowlist import allowed_entry_parse, origin_parse

MAX_API_KEY_CHARS = 512
MAX_BASE_URL_CHARS = 500
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

    The backend sends the tenant's key to this URL, so it must match an entry of
    `SCAIGRID_ALLOWED_HOSTS` (scheme, host, port and path: scaiflow/core/allowlist.py), and carry no
    user info (`https://allowed@evil`), query or fragment.
    """

    def invalid(message: str) -> ValidationError:
        return ValidationError(message, code="invalid")

    if not base_url or len(base_url) > MAX_BASE_URL_CHARS:
        raise invalid(f"The base URL must be 1 to {MAX_BASE_URL_CHARS} characters.")
    if not _URL_PATTERN.fullmatch(base_url):
        raise invalid("The base URL must be ASCII, without spaces or backslashes.")
    try:
        origin = origin_parse(base_url)
    except ValueError as exc:
        raise invalid(f"The base URL is not valid: {exc}.") from None
    entries = [allowed_entry_parse(entry) for entry in settings.SCAIGRID_ALLOWED_HOSTS]
    same_host = [entry for entry in entries if entry.host == origin.host]
    if not same_host:
        raise invalid(f"'{origin.host}' is not an allowed ScaiGrid host (SCAIGRID_ALLOWED_HOSTS).")
    if origin not in same_host:
        allowed = ", ".join(str(entry) for entry in same_host)
        raise invalid(
            f"The base URL's scheme, port or path is not allowed for '{origin.host}' "
            f"(SCAIGRID_ALLOWED_HOSTS allows {allowed})."
        )
    parts = urlsplit(base_url)
    return urlunsplit((origin.scheme, parts.netloc.lower(), origin.path, "", ""))
