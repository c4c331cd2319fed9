"""`python -m ack_compute.server` == `ack-compute-mcp`."""

import sys

from ack_compute.server.cli import main

sys.exit(main())
