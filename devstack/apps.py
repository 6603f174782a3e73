from django.apps import AppConfig


class DevstackConfig(AppConfig):
    """Local stand-ins of ScaiGrid, ScaiQueue, ScaiVault and ScaiKey (development only)."""

    name = "devstack"
