"""CS DescribeTaskInfo: the state, stages, events and error of a cluster or node pool task."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.cs.exceptions import task_not_found
from ack_compute.sandbox.cs.responses.views import task_view
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState


def describe_task_info(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    task_id = request.path_params["task_id"]
    with state.world.lock:
        task = state.world.tasks.get(task_id)
        if task is None:
            raise task_not_found(task_id)
        return task_view(task)
