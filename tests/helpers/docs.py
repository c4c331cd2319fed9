"""The reference documents the server ships (docs://references/<name>), as the tests expect to find them."""

DOCUMENTS = frozenset(
    {
        "ack-clusters",
        "acs-compute",
        "ack-serverless",
        "create-cluster-api",
        "pricing",
        "troubleshooting",
        "server-tools",
    }
)
