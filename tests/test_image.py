import pytest

from ecsdeploy.errors import ExitCode, ImageError
from ecsdeploy.image import parse_image, parse_tag

SHA = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "path", "tag", "digest"),
    [
        ("mariadb", None, "mariadb", "latest", None),
        ("mariadb:10.6", None, "mariadb", "10.6", None),
        ("repo/multi/level/image:v1.2.3", None, "repo/multi/level/image", "v1.2.3", None),
        (
            f"docker.domain.com:8080/repo/image@{SHA}",
            "docker.domain.com:8080",
            "repo/image",
            None,
            SHA,
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "web",
            "1.4.2",
            None,
        ),
        ("localhost:5000/app", "localhost:5000", "app", "latest", None),
        ("repo/image:tag_with_underscore", None, "repo/image", "tag_with_underscore", None),
        ("domain.com/repo/image:1", "domain.com", "repo/image", "1", None),
    ],
)
def test_accepted_references(text, registry, path, tag, digest):
    ref = parse_image(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)


@pytest.mark.parametrize(
    "text",
    ["", "/something", "domain.com:abc/repo/image", "_something:tag123", "repo/image:", "a b"],
)
def test_rejected_references(text):
    with pytest.raises(ImageError) as info:
        parse_image(text)
    assert info.value.code == ExitCode.BAD_IMAGE


def test_str_round_trips_and_retag_drops_digest():
    ref = parse_image(f"docker.domain.com:8080/repo/image@{SHA}")
    assert str(ref) == f"docker.domain.com:8080/repo/image@{SHA}"
    assert str(ref.with_tag("v2")) == "docker.domain.com:8080/repo/image:v2"


def test_docker_hub_names_compare_equal():
    assert parse_image("docker.io/library/nginx:1").canonical_repository == "nginx"
    assert parse_image("nginx").canonical_repository == "nginx"


def test_parse_tag():
    assert parse_tag("v1.2_3") == "v1.2_3"
    with pytest.raises(ImageError):
        parse_tag("bad/tag")
