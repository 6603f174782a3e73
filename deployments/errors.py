"""The deploy's errors (SPEC §4 error matrix), each named after its code."""

from scaiflow.core.errors import ApiError


class CompileError(ApiError):
    status_code = 400
    code = "compile_error"
    message = "The flow does not compile."
    fix = "Fix the diagnostics in `messages` (POST /api/v1/flows/{id}/compile shows them)."


class DeployInProgress(ApiError):
    status_code = 409
    code = "deploy_in_progress"
    message = "Another deploy of this flow is running."
    fix = "Wait for it to finish (GET /api/v1/deployments/{deployment_id}), then retry."


class IdempotencyKeyReused(ApiError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."
    fix = "Use a new Idempotency-Key for a new request."


class ScaiqueueAuth(ApiError):
    status_code = 502
    code = "scaiqueue_auth"
    fix = (
        "Give the credential the scaiqueue:manage permission, "
        "or sign in with a ScaiKey user who has it."
    )


class ScaiqueueProvisionFailed(ApiError):
    status_code = 502
    code = "scaiqueue_provision_failed"
    fix = "Check the scope and queue in ScaiQueue against the flow's config.scaiqueue."


class ScaicoreCreateFailed(ApiError):
    status_code = 502
    code = "scaicore_create_failed"
    fix = "Retry the deploy; if it keeps failing, check ScaiGrid's status and the message."


class ScaicorePublishFailed(ApiError):
    status_code = 502
    code = "scaicore_publish_failed"
    fix = "The Core is deployed and invokable; deploy again to retry the publish."


class ScaicoreUnpublishFailed(ApiError):
    status_code = 502
    code = "scaicore_unpublish_failed"
    fix = "The Core is updated but still published; deploy again to retry the unpublish."


class DeployAbandoned(ApiError):
    status_code = 500
    code = "deploy_abandoned"
    message = "The deploy stopped mid-way (its server went away) and was closed."
    fix = "Deploy again: the next deploy updates the same Core."


class RetryPublishRefused(ApiError):
    status_code = 409
    code = "retry_publish_refused"
    message = "This deployment's publish cannot be retried."
    fix = "Only a publish_failed deployment that is its flow's latest Core change can be retried."


class ScaikeyRequired(ApiError):
    status_code = 403
    code = "scaikey_required"
    message = "Live events are only available to callers signed in with ScaiKey."
    fix = "Sign in with ScaiKey and send `Authorization: Bearer <ScaiKey JWT>`."


class ScaicoreEventsFailed(ApiError):
    status_code = 502
    code = "scaicore_events_failed"
    fix = "Retry in a moment; if it keeps failing, check ScaiGrid's status and the message."
