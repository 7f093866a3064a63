"""Container image references: parsed once into a frozen value. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ecsdeploy.errors import ImageError

# A registry is the first path component when it looks like a host: it has a dot or a
# port, or is `localhost`. Its port must be numeric (`domain.com:abc/...` is refused).
_REGISTRY = re.compile(
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[0-9]+))?$"
)
# Path components: alphanumerics separated by `.`, `_`, `__` or dashes; never leading
# with a separator (`_something` is refused). Upper case is accepted, as the original does.
_COMPONENT = re.compile(r"^[A-Za-z0-9]+(?:(?:[._]|__|-+)[A-Za-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class ImageRef:
    """`[registry[:port]/][path/]name[:tag|@digest]`; `tag` is None only when `digest` is set."""

    registry: str | None
    path: str
    tag: str | None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The reference without tag or digest, as written."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def canonical_repository(self) -> str:
        """The repository with Docker Hub's implicit parts removed, for comparing:
        `docker.io/library/nginx` and `nginx` are the same repository."""
        if self.registry in _DOCKER_HUB:
            path = self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path
            return path
        return self.repository

    def with_tag(self, tag: str) -> ImageRef:
        """This repository at `tag`; a digest reference becomes a tag reference."""
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def parse_image(text: str) -> ImageRef:
    """Parse an image reference; a missing tag means `latest`. Raises ImageError."""
    if not text or text != text.strip():
        raise ImageError(f"Unable to parse image name {text!r}: it is empty or has spaces")
    if "`" in text or "$" in text:  # -i 'repo:`git describe`', as the bash tool's README shows
        raise ImageError(
            f"Unable to parse image name {text!r}: shell syntax that no shell expanded "
            "(ecs-deploy never evaluates its input); let the shell substitute it, in double "
            'quotes: -i "repo:$(git describe)"'
        )
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ImageError(f"Unable to parse image name {text!r}: {digest!r} is not a digest")
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise ImageError(f"Unable to parse image name {text!r}: {tag!r} is not a valid tag")
    parts = rest.split("/")
    registry = None
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _REGISTRY.match(parts[0]):
            raise ImageError(
                f"Unable to parse image name {text!r}: {parts[0]!r} is not a registry host[:port]"
            )
        registry = parts.pop(0)
    for part in parts:
        if not _COMPONENT.match(part):
            raise ImageError(
                f"Unable to parse image name {text!r}: {part!r} is not a valid repository name"
                " component"
            )
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry=registry, path="/".join(parts), tag=tag, digest=digest)


def parse_tag(text: str) -> str:
    """Validate a bare tag (for --tag-only and --tag-env-var)."""
    tag = text.removeprefix(":")
    if not _TAG.match(tag):
        raise ImageError(f"Unable to parse tag {text!r}: use letters, digits, '_', '.' and '-'")
    return tag
