"""`ack-compute-mcp doctor`: check a setup without creating anything."""

from __future__ import annotations

from ack_compute.cloud.config import StaticCredentials
from ack_compute.server.settings import Settings


def run_doctor(settings: Settings, credentials: StaticCredentials | None) -> int:
    from ack_compute.cloud.errors import CloudError
    from ack_compute.server.runtime import Runtime

    runtime = Runtime.build(settings, credentials)
    print(f"region {settings.region}, state dir {settings.state_dir}, sandbox {settings.sandbox}")
    try:
        regions = runtime.pricer._cs.describe_regions()
    except CloudError as exc:
        print(f"FAIL: {exc}")
        return 1
    print(f"OK: ACK answers; {len(regions)} regions visible")
    return 0
