"""ack_compute.sandbox."""
