"""ack_compute.tools."""
