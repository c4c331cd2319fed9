"""ack_compute.cloud."""
