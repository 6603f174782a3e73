"""The project's URLs plus a few views that exercise the error paths no real view has yet."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from scaiflow.urls import urlpatterns as project_urlpatterns


class EchoView(APIView):
    def post(self, request):
        return Response({"received": request.data})


class BrokenView(APIView):
    def get(self, request):
        raise RuntimeError("something broke with a secret inside: sk_canary_123")


class AlwaysThrottle(BaseThrottle):
    def allow_request(self, request, view):
        return False

    def wait(self):
        return 17.2


class ThrottledView(APIView):
    throttle_classes = [AlwaysThrottle]

    def get(self, request):
        return Response({})


urlpatterns = [
    path("api/v1/_test/echo", EchoView.as_view()),
    path("api/v1/_test/broken", BrokenView.as_view()),
    path("api/v1/_test/throttled", ThrottledView.as_view()),
    *project_urlpatterns,
]
handler400 = "scaiflow.core.errors.handler400"
handler403 = "scaiflow.core.errors.handler403"
handler404 = "scaiflow.core.errors.handler404"
handler500 = "scaiflow.core.errors.handler500"
