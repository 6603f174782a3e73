from django import template

from scaiflow.identity.oidc import sign_in_enabled

register = template.Library()


@register.simple_tag
def scaikey_sign_in_enabled() -> bool:
    """Whether the login page offers "Sign in with ScaiKey" (a client id is configured)."""
    return sign_in_enabled()
