"""OpenAPI descriptions of ScaiFlow's authentication (loaded by ScaiflowConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ScaiKeyJWTScheme(OpenApiAuthenticationExtension):
    target_class = "scaiflow.auth.ScaiKeyJWTAuthentication"
    name = "ScaiKeyJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A ScaiKey access token.",
        }


class SharedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "scaiflow.auth.SharedTokenAuthentication"
    name = "SharedToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The legacy shared token (SCAIFLOW_API_TOKEN), deprecated.",
        }
