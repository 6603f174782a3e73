"""`GET /api/v1/scaicore/events`: what the canvas's Live Runs panel polls (SPEC §3)."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from deployments.events import MAX_CURSOR_CHARS, scaicore_events_poll
from scaiflow.core.api import TenantAPIView
from scaiflow.core.schema import error


class EventsQuery(serializers.Serializer):
    flow_id = serializers.CharField(max_length=64, help_text="The flow's id.")
    since = serializers.RegexField(
        r"^[A-Za-z0-9_-]*$",
        max_length=MAX_CURSOR_CHARS,
        required=False,
        allow_blank=True,
        help_text="The `cursor` of the previous answer (opaque); another value is a 400.",
    )


# What a poll normally sends: ids and cursors as this API gives them (url-safe base64).
_PLAIN_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLAIN_CURSOR = re.compile(rf"[A-Za-z0-9_-]{{0,{MAX_CURSOR_CHARS}}}")


def events_query(params) -> tuple[str, str | None]:
    """`(flow_id, since)` of a poll's query string; 400 `invalid_request` when it is not one.

    A plain query skips building the serializer (a good part of a cache hit's time); any other
    one gets the serializer's checks and messages, so the answer is the same either way.
    """
    flow_id, since = params.get("flow_id"), params.get("since")
    if (
        flow_id is not None
        and _PLAIN_FLOW_ID.fullmatch(flow_id)
        and (since is None or _PLAIN_CURSOR.fullmatch(since))
    ):
        return flow_id, since or None
    query = EventsQuery(data=params)
    query.is_valid(raise_exception=True)
    return query.validated_data["flow_id"], query.validated_data.get("since") or None


class CoreEventsError(serializers.Serializer):
    core_id = serializers.CharField()
    status = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class EventsOutput(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField())
    cursor = serializers.CharField()
    errors = CoreEventsError(many=True)


class ScaicoreEventsView(TenantAPIView):
    """The flow's Cores' events after `since`, merged in time order (ScaiKey callers only)."""

    @extend_schema(
        parameters=[EventsQuery],
        responses={
            200: EventsOutput,
            400: error("`invalid_request`: no flow_id, or a bad cursor."),
            403: error("`scaikey_required`: not signed in with ScaiKey."),
            404: error("`not_found`: no such flow in your tenant."),
            502: error(
                "`scaicore_events_failed`: every Core's events call failed; "
                "`status` is the upstream status."
            ),
        },
        operation_id="scaicore_events",
    )
    def get(self, request):
        flow_id, since = events_query(request.query_params)
        poll = scaicore_events_poll(principal=self.principal, flow_id=flow_id, since=since)
        return Response(poll.as_body())
