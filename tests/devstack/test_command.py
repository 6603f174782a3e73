"""`python manage.py devstack`: prints where it is and how to point ScaiFlow at it."""

from __future__ import annotations

import io
import re
import socket

import jwt
import pytest
from django.core.management import CommandError, call_command

from devstack.server import Devstack


def test_devstack_command_prints_its_settings_and_a_token(monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Devstack, "serve_forever", interrupted)
    out = io.StringIO()

    call_command("devstack", "--port", "0", "--tenant", "acme", "--quiet", stdout=out)

    text = out.getvalue()
    url = re.search(r"devstack serving at (http://127\.0\.0\.1:\d+)", text).group(1)
    for line in (
        f"export SCAIGRID_BASE_URL={url}",
        f"export SCAIQUEUE_BASE_URL={url}",
        f"export SCAIKEY_JWKS_URL={url}/.well-known/jwks.json",
        f"export SCAIKEY_ISSUER={url}/scaikey",
        "export SCAIKEY_AUDIENCE=scaiflow",
        "export SCAIKEY_OIDC_CLIENT_ID=scaiflow-admin",
        "sgk_devstack_0000000000000000",
        "devstack stopped",
    ):
        assert line in text
    token = re.search(r"^\s+(ey\S+)$", text, re.MULTILINE).group(1)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["tenant_admin"]


def test_devstack_command_fails_in_one_line_when_the_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(CommandError, match="cannot listen"):
            call_command("devstack", "--port", str(port), stdout=io.StringIO())
