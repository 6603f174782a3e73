"""Benchmark-only URLconf: the product's URLs plus a bare DRF view returning constant JSON."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from scaiflow.urls import *  # noqa: F403
from scaiflow.urls import urlpatterns as product_urlpatterns

CONSTANT_BODY = {"events": [], "cursor": "e30", "errors": []}


class ConstantView(APIView):
    """The baseline: no authentication, no database, no cache, no upstream."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(CONSTANT_BODY)


urlpatterns = [*product_urlpatterns, path("bench/constant", ConstantView.as_view())]
