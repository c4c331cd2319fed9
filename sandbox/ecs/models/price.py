"""ECS list-price rules: the price units and their hours, the periods and amounts allowed, the default disk."""

from __future__ import annotations

HOURS_PER_UNIT = {"Hour": 1, "Week": 168, "Month": 720, "Year": 8760}
PERIODS = {"Hour": range(1, 2), "Week": range(1, 5), "Month": range(1, 10), "Year": range(1, 6)}
MAX_AMOUNT = 1000
MAX_DATA_DISKS = 4
DEFAULT_SYSTEM_DISK = ("cloud_efficiency", 40)
