"""The deploy's errors (SPEC §4 error matrix), each named after its code."""

from scaiflow.core.errors import (
    ApiError,
    DatabaseUnavailable,
    FlowStorageUnavailable,
    InternalError,
    MissingScaigridCredentials,
    NotFound,
    ScaivaultUnavailable,
)


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


# What a deployment record can end with (what the admin's "By error code" filter offers): the
# errors a deploy raises once its record is written (SPEC §4's error matrix, a deploy closed
# as abandoned, a refused concurrent deploy) and those of the kernel a run records (a version
# not found, a database gone mid-deploy, a bug). Not the refusals answered before any record
# (idempotency_key_reused, retry_publish_refused, version_conflict), nor the live events'.
RECORDED_ERRORS: tuple[type[ApiError], ...] = (
    CompileError,
    DeployInProgress,
    ScaiqueueAuth,
    ScaiqueueProvisionFailed,
    ScaicoreCreateFailed,
    ScaicorePublishFailed,
    ScaicoreUnpublishFailed,
    DeployAbandoned,
    NotFound,
    MissingScaigridCredentials,
    ScaivaultUnavailable,
    FlowStorageUnavailable,
    DatabaseUnavailable,
    InternalError,
)


def recorded_error_codes() -> list[str]:
    """The `error_code`s a deployment record can hold, sorted."""
    return sorted(error.code for error in RECORDED_ERRORS)
