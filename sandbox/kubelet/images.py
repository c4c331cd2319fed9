"""The sandbox's image registry: which references "pull", and what an image does when a pod gives no command.

Nothing is downloaded. A reference pulls when it names a known image under a registry ACK clusters reach (Docker
Hub, the ACK and ACR registries of any region, the Alibaba mirror); anything else fails the way containerd
reports it, so pods see ErrImagePull and then ImagePullBackOff as on a real node.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Literal

# What a container does with no command of its own: `exit` means the image's default command ends at once
# without a terminal (sh, python3), `serve` means it serves until stopped (nginx, pause, coredns).
Default = Literal["exit", "serve"]

DEFAULT_IMAGES: dict[str, Default] = {
    "busybox": "exit",
    "alpine": "exit",
    "python": "exit",
    "nginx": "serve",
    "stress": "serve",
    "pause": "serve",
    "coredns": "serve",
}
_REGION = r"[a-z]{2}(?:-[a-z0-9]+)+"
# Registries the sandbox's clusters pull from; the group is what may sit between the registry and the name.
_REGISTRIES = (
    re.compile(r"^(?:docker\.io/|index\.docker\.io/|registry-1\.docker\.io/)?(?:library/)?$"),
    re.compile(rf"^registry-{_REGION}(?:-vpc)?\.ack\.aliyuncs\.com/acs/$"),
    re.compile(r"^mirrors-ssl\.aliyuncs\.com/(?:library/)?$"),
    re.compile(rf"^registry(?:-vpc)?\.{_REGION}\.aliyuncs\.com/(?:acs/|library/|google_containers/)?$"),
)
_REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+(?=/))?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference, normalised the way containerd names it (docker.io/library/x:latest)."""

    original: str
    repository: str  # e.g. docker.io/library/busybox, registry-cn-hangzhou.ack.aliyuncs.com/acs/python
    tag: str
    digest: str

    @property
    def prefix(self) -> str:
        """Everything before the image's own name, with the trailing slash."""
        return self.repository.rsplit("/", 1)[0] + "/" if "/" in self.repository else ""

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]

    @property
    def normalized(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"

    @property
    def image_id(self) -> str:
        """What the runtime reports as the pulled image's id (a stable fake digest unless one was given)."""
        digest = self.digest or "sha256:" + hashlib.sha256(self.normalized.encode()).hexdigest()
        return f"{self.repository}@{digest}"


class InvalidImageName(ValueError):
    pass


def parse_image(reference: str) -> ImageRef:
    match = _REFERENCE.match(reference)
    if not match:
        raise InvalidImageName(
            f'Failed to apply default image tag "{reference}": couldn\'t parse image reference "{reference}": '
            "invalid reference format"
        )
    name = match.group("name")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if rest else f"library/{name}")
    digest = match.group("digest") or ""
    return ImageRef(reference, name, match.group("tag") or ("" if digest else "latest"), digest)


@dataclass(frozen=True)
class Pulled:
    ref: ImageRef
    default: Default


class PullError(Exception):
    """An image that cannot be pulled; `reason` is the waiting reason the kubelet reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ImageRegistry:
    """Known images: the defaults under the usual registries, plus references added one by one."""

    def __init__(self, names: dict[str, Default] | None = None) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, Default] = dict(DEFAULT_IMAGES if names is None else names)
        self._exact: dict[str, Default] = {}

    def add(self, reference: str, default: Default = "exit") -> None:
        """Make one more reference pullable (any tag when it has none); `default` says what it does without a
        command."""
        ref = parse_image(reference)
        pinned = ref.digest or ":" in reference.rsplit("/", 1)[-1]
        with self._lock:
            self._exact[ref.normalized if pinned else ref.repository] = default

    def pull(self, reference: str) -> Pulled:
        """The pulled image, or PullError with containerd's words for why not."""
        try:
            ref = parse_image(reference)
        except InvalidImageName as error:
            raise PullError("InvalidImageName", str(error)) from None
        with self._lock:
            default = self._exact.get(ref.normalized) or self._exact.get(ref.repository)
            if default is None and ref.name in self._names and any(r.match(ref.prefix) for r in _REGISTRIES):
                default = self._names[ref.name]
        if default is None:
            raise PullError("ErrImagePull", _pull_failure(ref))
        return Pulled(ref, default)


def _pull_failure(ref: ImageRef) -> str:
    wanted = ref.normalized
    head = f'rpc error: code = Unknown desc = failed to pull and unpack image "{wanted}": '
    host = ref.repository.split("/", 1)[0]
    if host == "docker.io":
        return (
            f'{head}failed to resolve reference "{wanted}": pull access denied, repository does not exist or may '
            "require authorization: server message: insufficient_scope: authorization failed"
        )
    if host.endswith(".aliyuncs.com"):
        return f'rpc error: code = NotFound desc = failed to pull and unpack image "{wanted}": ' + (
            f'failed to resolve reference "{wanted}": {wanted}: not found'
        )
    repository = ref.repository.split("/", 1)[1]
    return (
        f'{head}failed to resolve reference "{wanted}": failed to do request: Head "https://{host}/v2/{repository}/'
        f'manifests/{ref.digest or ref.tag}": dial tcp: lookup {host}: no such host'
    )
