"""ack_compute.references."""
