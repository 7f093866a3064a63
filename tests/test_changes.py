"""The pure change functions: dotenv parsing, applying changes, masking, resources."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsdeploy.changes import (
    MASK,
    Changes,
    apply_changes,
    check_resources,
    cpu_units,
    describe_changes,
    looks_secret,
    mask_value,
    masked,
    memory_mib,
    parse_command,
    parse_env_file,
    secrets_within,
    unified_diff,
)
from ecsdeploy.errors import NoMatchingContainerError, UsageError

TD = {
    "family": "web",
    "cpu": "256",
    "memory": "512",
    "volumes": [{"name": "data"}],
    "containerDefinitions": [
        {
            "name": "web",
            "image": "nginx:1",
            "environment": [{"name": "MODE", "value": "a"}, {"name": "DB_PASSWORD", "value": "x"}],
            "portMappings": [{"containerPort": 80}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
        },
        {"name": "log", "image": "fluent-bit:2"},
    ],
}


def test_dotenv_syntax():
    text = (
        "# a comment\n\nexport A=1\nB = spaced \nC='single $X # kept'\n"
        'D="double\\n\\"q\\" \\\\ "  # trailing\nE=plain # comment\nF=\nG=a=b\n'
    )
    assert parse_env_file(text, "f") == [
        ("A", "1"),
        ("B", "spaced"),
        ("C", "single $X # kept"),
        ("D", 'double\n"q" \\ '),
        ("E", "plain"),
        ("F", ""),
        ("G", "a=b"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A=1\nnot a pair\n", "f, line 2: expected NAME=VALUE"),
        ("1A=x", "line 1: expected NAME=VALUE"),
        ("A='open", "line 1: the ' quote is not closed"),
        ('A="x" y', "line 1: text after the closing quote"),
    ],
)
def test_dotenv_errors_name_the_line_never_the_value(text, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_env_file(text, "f")
    assert "open" not in info.value.message or "quote" in info.value.message


def test_apply_changes_is_pure_and_keeps_every_other_field():
    before = copy.deepcopy(TD)
    changes = Changes(
        env=(("web", "MODE", "b"), ("web", "NEW", "1")),
        unset_env=(("web", "DB_PASSWORD"),),
        secrets=(("log", "KEY", "/app/key"),),
        command=(("web", ("nginx", "-g", "daemon off;")),),
        memory=(("web", 256),),
        docker_labels=(("log", "team", "x"),),
        task_role="arn:aws:iam::123456789012:role/r",
    )
    new = apply_changes(TD, changes)
    assert before == TD  # the input is untouched
    web, log = new["containerDefinitions"]
    assert web["environment"] == [{"name": "MODE", "value": "b"}, {"name": "NEW", "value": "1"}]
    assert web["portMappings"] == TD["containerDefinitions"][0]["portMappings"]
    assert web["logConfiguration"] == TD["containerDefinitions"][0]["logConfiguration"]
    assert log == {
        "name": "log",
        "image": "fluent-bit:2",
        "secrets": [{"name": "KEY", "valueFrom": "/app/key"}],
        "dockerLabels": {"team": "x"},
    }
    assert new["volumes"] == TD["volumes"]
    assert new["taskRoleArn"] == "arn:aws:iam::123456789012:role/r"


def test_an_unknown_container_names_the_ones_there_are():
    with pytest.raises(NoMatchingContainerError, match=r"nosuch .*\(it has: web, log\)"):
        apply_changes(TD, Changes(env=(("nosuch", "A", "1"),)))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web", "log"]),
            st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=8),
            st.text(max_size=20),
        ),
        max_size=8,
    )
)
@settings(max_examples=200, deadline=None)
def test_env_changes_set_exactly_what_was_asked(entries):
    new = apply_changes(TD, Changes(env=tuple(entries)))
    expected: dict[str, dict[str, str]] = {
        c["name"]: {e["name"]: e["value"] for e in c.get("environment", [])}
        for c in TD["containerDefinitions"]
    }
    for name, key, value in entries:
        expected[name][key] = value
    for c in new["containerDefinitions"]:
        assert {e["name"]: e["value"] for e in c.get("environment", [])} == expected[c["name"]]
        original = next(o for o in TD["containerDefinitions"] if o["name"] == c["name"])
        assert {k: v for k, v in c.items() if k != "environment"} == {
            k: v for k, v in original.items() if k != "environment"
        }


def test_secret_looking_names_are_masked_everywhere():
    assert looks_secret("DB_PASSWORD")
    assert looks_secret("github_token")
    assert looks_secret("AWS_SECRET_ACCESS_KEY")
    assert not looks_secret("MODE")
    new = apply_changes(TD, Changes(env=(("web", "DB_PASSWORD", "new-pw"), ("web", "MODE", "b"))))
    lines = describe_changes(TD, new)
    assert f"container web: environment DB_PASSWORD: {MASK} -> {MASK}" in lines
    assert "container web: environment MODE: a -> b" in lines
    diff = "\n".join(unified_diff(TD, new, "old", "new"))
    assert "new-pw" not in diff
    assert '"x"' not in diff
    assert masked(TD)["containerDefinitions"][0]["environment"][1]["value"] == MASK


def test_command_forms():
    assert parse_command("sh -c 'echo hi; exit 1'") == ("sh", "-c", "echo hi; exit 1")
    assert parse_command('["a", "b c"]') == ("a", "b c")


@pytest.mark.parametrize(
    ("cpu", "memory", "ok"),
    [
        ("256", "512", True),
        ("256", "4096", False),
        (".25 vCPU", "0.5 GB", True),
        ("1 vCPU", "8 GB", True),
        ("16 vCPU", "120 GB", True),
        ("8192", "20000", False),
        ("300", "1024", False),
    ],
)
def test_fargate_pairs(cpu, memory, ok):
    td = {**TD, "requiresCompatibilities": ["FARGATE"], "cpu": cpu, "memory": memory}
    if ok:
        check_resources(td)
    else:
        with pytest.raises(UsageError, match="valid values"):
            check_resources(td)


def test_ec2_task_definitions_are_not_held_to_fargate_pairs():
    check_resources({**TD, "cpu": "300", "memory": "1000"})


# -- issue 14: secrets in URLs and labels, dotenv lines, amounts, linear time -----------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("postgres://app:s3cr3t@db:5432/app", f"postgres://app:{MASK}@db:5432/app"),
        ("redis://:hunter2@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("amqp://guest:p@ss@mq/vhost", f"amqp://guest:{MASK}@mq/vhost"),
        ("mongodb+srv://u:pw@cluster0.example.net", f"mongodb+srv://u:{MASK}@cluster0.example.net"),
        ("https://example.com/path", "https://example.com/path"),  # no credentials
        ("user@example.com", "user@example.com"),
        # a scheme longer than 32 characters: the password is still masked
        ("x" * 70 + "://u:pw@h", "x" * 70 + f"://u:{MASK}@h"),
        # long runs of a scheme's characters, no password: found as fast as any value
        ("a-" * 50_000 + "://x", "a-" * 50_000 + "://x"),
        ("a://b:" * 10_000, "a://b:" * 10_000),
    ],
)
def test_url_passwords_are_masked_whatever_the_name(value: str, shown: str):
    assert mask_value("DATABASE_URL", value) == shown
    assert mask_value("DB_PASSWORD", value) == MASK  # the name rule masks it whole


def test_docker_labels_named_like_secrets_are_masked():
    new = apply_changes(
        TD,
        Changes(
            docker_labels=(
                ("web", "traefik.auth.password", "s3cr3t"),
                ("web", "team", "payments"),
                ("web", "backup.url", "s3://k:v@bucket"),
            )
        ),
    )
    lines = "\n".join(describe_changes(TD, new))
    assert "s3cr3t" not in lines
    assert f"traefik.auth.password: added = {MASK}" in lines
    assert "team: added = payments" in lines
    assert f"backup.url: added = s3://k:{MASK}@bucket" in lines
    diff = "\n".join(unified_diff(TD, new, "a", "b"))
    assert "s3cr3t" not in diff
    assert ":v@" not in diff


def test_a_forgotten_container_name_is_never_quoted():
    with pytest.raises(NoMatchingContainerError) as caught:
        apply_changes(TD, Changes(env=(("DB_PASSWORD=s3cr3t", "LOG_LEVEL", "debug"),)))
    assert "s3cr3t" not in caught.value.message
    assert "No container named DB_PASSWORD=***" in caught.value.message
    assert "--env CONTAINER NAME=VALUE" in caught.value.message


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029", "\x0b", "\x0c", "\x1e"])
def test_only_newlines_end_a_dotenv_line(separator: str):
    text = f"GREETING=hello{separator}world\nB=2\r\n"
    assert parse_env_file(text, "f") == [("GREETING", f"hello{separator}world"), ("B", "2")]


@pytest.mark.parametrize(
    ("text", "units"),
    [("1024", 1024), ("0.25 vCPU", 256), ("256.4", None), ("0.3 vcpu", None), ("9" * 400, None)],
)
def test_cpu_amounts_are_whole_units_or_nothing(text: str, units: int | None):
    assert cpu_units(text) == units


def test_memory_amounts_too_large_are_refused_not_overflowing():
    assert memory_mib("1" + "0" * 400) is None
    assert memory_mib("2 GB") == 2048
    assert memory_mib("4294967296") is None  # above ECS's 32-bit field


def test_a_long_env_file_parses_and_applies_in_linear_time():
    """200,000 variables (once quadratic: still running after 120 s). Under a real timer, so a
    regression fails here instead of hanging the suite."""
    from tests.test_parsers_property import bounded

    text = "".join(f"VAR_{i}=value {i}   # comment\n" for i in range(200_000))
    with bounded(20):
        pairs = parse_env_file(text, "f")
        new = apply_changes(TD, Changes(env=tuple(("web", k, v) for k, v in pairs)))
    env = new["containerDefinitions"][0]["environment"]
    assert len(env) == 200_000 + len(TD["containerDefinitions"][0]["environment"])
    assert env[-1] == {"name": "VAR_199999", "value": "value 199999"}


def test_secrets_within_are_what_masked_hides_in_every_container_and_override():
    """The values output masks anywhere else are exactly those `masked` hides: secret-named
    environment values and labels of every container, URL passwords of the others, and a
    RunTask's one-run overrides."""
    definition = {
        "containerDefinitions": [
            {
                "name": "web",
                "environment": [
                    {"name": "DB_PASSWORD", "value": "pw-1"},
                    {"name": "DATABASE_URL", "value": "postgres://app:urlpw@db/app"},
                    {"name": "MODE", "value": "plain"},
                ],
            },
            {
                "name": "side",
                "environment": [{"name": "SIDE_TOKEN", "value": "tok-2"}],
                "dockerLabels": {"AUTH_LABEL": "lbl-3", "team": "payments"},
            },
        ],
        "overrides": {
            "containerOverrides": [
                {"name": "web", "environment": [{"name": "SESSION_ID", "value": "ovr-4"}]}
            ]
        },
    }
    values, passwords = secrets_within(definition)
    assert sorted(values) == ["lbl-3", "ovr-4", "pw-1", "tok-2"]
    assert passwords == ["urlpw"]
    shown = json.dumps(masked(definition))
    for value in (*values, *passwords):
        assert value not in shown
    assert "plain" in shown
    assert "payments" in shown
