"""The FlowGraph's `config`: LLM roles, the ScaiQueue declaration and the publish settings."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .diagnostics import escape_token, quote, type_name
from .ir import QueueDecl, ScaiQueueDecl
from .kinds import is_name
from .values import EMPTY_MAP, scan, string_problem


class FlowConfig:
    """The checked config; `problems` lists what was wrong as (JSON Pointer, message)."""

    def __init__(self) -> None:
        self.llm_roles: Mapping[str, Any] = EMPTY_MAP
        self.scaiqueue: ScaiQueueDecl | None = None
        self.publish_as_model = False
        self.group_ids: tuple[str, ...] = ()
        self.problems: list[tuple[str, str]] = []

    @functools.cached_property
    def queue_slugs(self) -> frozenset[str]:
        """The slugs of the declared queues."""
        queues = self.scaiqueue.queues if self.scaiqueue is not None else ()
        return frozenset(queue.slug for queue in queues)

    def schema(self, message: str, path: str) -> None:
        self.problems.append((path, message))

    def frozen(self, value: Any, path: str) -> Any:
        return scan(value, path, None, self.problems)

    def _check_config(self, config: Any) -> None:
        if config is None:
            return
        if not isinstance(config, Mapping):
            self.schema(f"'config' must be an object, not {type_name(config)}", "/config")
            return
        publish = config.get("publish_as_model")
        if publish is not None and type(publish) is not bool:
            self.schema("'publish_as_model' must be true or false", "/config/publish_as_model")
        self.publish_as_model = publish is True
        group_ids = config.get("group_ids")
        if group_ids is not None:
            if not isinstance(group_ids, list) or not all(
                type(group) is str and group and not string_problem(group) for group in group_ids
            ):
                self.schema("'group_ids' must be an array of group id strings", "/config/group_ids")
            else:
                self.group_ids = tuple(group_ids)
        roles = config.get("llm_roles")
        if roles is not None:
            if not isinstance(roles, Mapping):
                self.schema("'llm_roles' must be an object of role → settings", "/config/llm_roles")
            else:
                for role, settings in roles.items():
                    if not is_name(role) or not isinstance(settings, Mapping):
                        path = "/config/llm_roles" + (
                            "/" + escape_token(role) if type(role) is str else ""
                        )
                        self.schema("each LLM role is a name mapped to an object", path)
                self.llm_roles = self.frozen(roles, "/config/llm_roles")
        scaiqueue = config.get("scaiqueue")
        if scaiqueue is not None:
            self._check_scaiqueue(scaiqueue, "/config/scaiqueue")

    def _queue_decl(self, value: Any, path: str) -> QueueDecl | None:
        if not isinstance(value, Mapping):
            self.schema("expected an object with 'slug', 'name' and 'config'", path)
            return None
        slug, config = value.get("slug"), value.get("config")
        name = value.get("name", slug)
        ok = True
        if not is_name(slug):
            self.schema("'slug' must be a name without spaces", f"{path}/slug")
            ok = False
        if type(name) is not str or string_problem(name):
            self.schema("'name' must be a string", f"{path}/name")
            ok = False
        if config is not None and not isinstance(config, Mapping):
            self.schema("'config' must be an object", f"{path}/config")
            ok = False
        frozen = self.frozen(config if config is not None else {}, f"{path}/config")
        return QueueDecl(slug, name, frozen) if ok else None

    def _check_scaiqueue(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.schema("'scaiqueue' must be an object with 'scope' and 'queues'", path)
            return
        scope = self._queue_decl(value.get("scope"), f"{path}/scope")
        queues_value = value.get("queues", [])
        if not isinstance(queues_value, list):
            self.schema("'queues' must be an array", f"{path}/queues")
            return
        queues: list[QueueDecl] = []
        seen: set[str] = set()
        for index, queue_value in enumerate(queues_value):
            queue = self._queue_decl(queue_value, f"{path}/queues/{index}")
            if queue is None:
                continue
            if queue.slug in seen:
                self.schema(
                    f"queue {quote(queue.slug)} is declared twice", f"{path}/queues/{index}"
                )
            seen.add(queue.slug)
            queues.append(queue)
        if scope is not None:
            self.scaiqueue = ScaiQueueDecl(scope, tuple(queues))


def check_flow_config(config: Any) -> FlowConfig:
    """Check the FlowGraph's `config` (None when absent); every problem is invalid_schema."""
    checked = FlowConfig()
    checked._check_config(config)
    return checked
