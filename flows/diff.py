"""What changed between two versions of a flow: nodes, edges, config, and the manifests.

`flow_versions_diff` is the one diff of two stored versions: the API answers it and the admin
shows it. It is built from the pure functions of `flows.graphdiff`, which the `scaiflow diff`
command uses too (without Django).
"""

from __future__ import annotations

from typing import Any

from flows.graphdiff import content_diff, manifest_diff
from flows.models import Flow
from flows.selectors import flow_version_content
from flows.services import flow_compile
from tenants.models import Tenant


def flow_versions_diff(*, tenant: Tenant, flow: Flow, a: int, b: int) -> dict[str, Any]:
    """What changed from version `a` to version `b` of `flow` (SPEC §3 "Versions diff"):
    `content_diff`, whether each side compiles, and the unified diff of their manifests.
    Raises NotFound for a version that does not exist, FlowStorageError."""
    before = flow_version_content(tenant=tenant, flow=flow, number=a)
    after = flow_version_content(tenant=tenant, flow=flow, number=b)
    compiled_before = flow_compile(
        flow=flow, content=before.content, version=a, content_sha256=before.version.sha256
    )
    compiled_after = flow_compile(
        flow=flow, content=after.content, version=b, content_sha256=after.version.sha256
    )
    return {
        "from_version": a,
        "to_version": b,
        **content_diff(before.content, after.content),
        "compiles": {"from": compiled_before.ok, "to": compiled_after.ok},
        "manifest_diff": manifest_diff(
            compiled_before.manifest, compiled_after.manifest, labels=(f"v{a}", f"v{b}")
        ),
    }
