"""Status bodies the Kubernetes API answers with, as kube-apiserver 1.20 writes them (tests/contract checks both)."""

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
