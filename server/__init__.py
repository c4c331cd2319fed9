"""ack_compute.server."""
