"""Password sign-in to the admin locks a username out from an address after repeated
failures (django-axes), with a clear page and an unlock command."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Xy7-long-enough"


@pytest.fixture
def opal(db):
    return get_user_model().objects.create_user("opal", password=PASSWORD, is_staff=True)


def sign_in(password: str, address: str = "10.0.0.1", username: str = "opal"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response


def test_five_bad_passwords_lock_the_user_out_from_that_address(opal):
    for _ in range(4):
        assert sign_in("wrong").status_code == 200  # the login form again, with its error
    locked = sign_in("wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins" in page and "opal" in page and "ScaiFlow admin" in page
    # Now even the right password is refused, from that address...
    assert sign_in(PASSWORD).status_code == 429
    # ...but not from another one, nor for another user from the same address.
    assert sign_in(PASSWORD, address="10.0.0.2").status_code == 302
    get_user_model().objects.create_user("pia", password=PASSWORD, is_staff=True)
    assert sign_in(PASSWORD, username="pia").status_code == 302


def test_the_documented_command_unlocks(opal):
    for _ in range(5):
        sign_in("wrong")
    assert sign_in(PASSWORD).status_code == 429
    call_command("axes_reset_username", "opal", stdout=io.StringIO())
    assert sign_in(PASSWORD).status_code == 302


def test_the_limit_is_configurable(opal, settings):
    settings.AXES_FAILURE_LIMIT = 2
    sign_in("wrong")
    assert sign_in("wrong").status_code == 429


def test_a_success_clears_earlier_failures(opal):
    for _ in range(4):
        sign_in("wrong")
    assert sign_in(PASSWORD).status_code == 302
    for _ in range(4):
        assert sign_in("wrong").status_code == 200


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/admin/"])
def test_a_refused_next_sends_the_user_to_the_admin_index(opal, next_url):
    client = Client()
    response = client.post(
        "/admin/login/", {"username": "opal", "password": PASSWORD, "next": next_url}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
