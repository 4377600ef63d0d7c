"""The compiled tree as a committed artifact: stable source references, recompiles
that keep what Pulumi and users put in OUT, `compile --check`, and programs that
run on their own."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler.cli import main
from crosswalk.compiler.emit import CACHE_FILE, compile_file, yaml_path
from crosswalk.compiler.stackconfig import OwnedKeys, merge_stack_config, render_stack_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ["aws", "gcp", "azure", "minimal"]


def sample(name: str) -> Path:
    return ROOT / "samples" / name / "platform.yaml"


def files_of(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def reversed_keys(value):
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def commented(text: str) -> str:
    """The same platform with a comment block on top, and a comment and blank
    lines before every top-level section."""
    lines = ["# Platform of the payments team.", "#", "# Owners: platform@example.com", ""]
    for line in text.splitlines():
        if line[:1].isalpha() and not line.startswith(("apiVersion", "kind")):
            lines += ["", "", f"# --- {line.split(':')[0]} ---"]
        lines.append(line)
    return "\n".join(lines) + "\n"


# --- stable source references ----------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_comments_and_blank_lines_rewrite_nothing_and_diff_sees_nothing(
    name: str, tmp_path: Path
) -> None:
    source = tmp_path / "platform.yaml"
    original = sample(name).read_text()
    source.write_text(original)
    out = tmp_path / "out"
    assert compile_file(source, out).files
    before = files_of(out)

    source.write_text(commented(original))
    assert compile_file(source, out).changed == []
    (out / CACHE_FILE).unlink()  # not thanks to the cache: the same bytes come out
    assert compile_file(source, out).changed == [CACHE_FILE]
    after = files_of(out)
    del before[CACHE_FILE], after[CACHE_FILE]
    assert after == before

    (tmp_path / "old.yaml").write_text(original)
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "old.yaml"), str(source)])
    assert result.exit_code == 0 and result.output.rstrip().endswith("no changes")


@pytest.mark.parametrize("name", SAMPLES)
def test_reordered_keys_rewrite_nothing(name: str, tmp_path: Path) -> None:
    source = tmp_path / "platform.yaml"
    source.write_text(sample(name).read_text())
    out = tmp_path / "out"
    compile_file(source, out)
    data = yaml.safe_load(sample(name).read_text())
    source.write_text(yaml.safe_dump(reversed_keys(data), sort_keys=False))
    (out / CACHE_FILE).unlink()
    assert compile_file(source, out).changed == [CACHE_FILE]


def test_generated_comments_cite_yaml_paths_not_lines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    program = (out / "06-apps" / "storefront" / "__main__.py").read_text()
    assert "# apps.storefront.ingress\n" in program
    assert "platform.yaml:" not in "".join(p.read_text() for p in out.rglob("*.py"))


@pytest.mark.parametrize(
    "path, expected",
    [
        (("apps", 1, "ingress"), "apps.shop.ingress"),
        (("apps", 0), "apps[0]"),  # no usable name
        (("apps", 1, "uses", 0), "apps.shop.uses[0]"),
        (("tags", "example.com/team"), 'tags["example.com/team"]'),
        (("tags", "a\nimport os"), 'tags["a\\nimport os"]'),  # cannot end the comment
        (("apps", 7), "apps[7]"),  # beyond the list (a default)
        (("cluster", "endpoint", "public"), "cluster.endpoint.public"),
    ],
)
def test_yaml_path(path: tuple, expected: str) -> None:
    data = {
        "apps": [{"name": "bad name"}, {"name": "shop", "uses": ["orders"]}],
        "tags": {"example.com/team": "x"},
    }
    assert yaml_path(data, path) == expected
    assert "\n" not in yaml_path(data, path)


def test_a_removed_line_moves_no_citation(tmp_path: Path) -> None:
    text = sample("gcp").read_text()
    first = tmp_path / "a" / "platform.yaml"
    second = tmp_path / "b" / "platform.yaml"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text(text)
    second.write_text("\n".join(line for line in text.splitlines() if line.strip()) + "\n")
    compile_file(first, tmp_path / "out-a")
    compile_file(second, tmp_path / "out-b")
    a, b = files_of(tmp_path / "out-a"), files_of(tmp_path / "out-b")
    del a[CACHE_FILE], b[CACHE_FILE]
    assert a == b
    shutil.rmtree(tmp_path / "out-b")


# --- recompiles keep what Pulumi and users wrote ------------------------------------------

SALT = "encryptionsalt: v1:6jY0Sg5Gq0k=:v1:G2WKuv0yBjc0vYfc:1y0i8wAtWlGRa6iqJMzC4w==\n"


def pulumi_wrote(out: Path) -> None:
    """What `pulumi stack init` (passphrase), `pulumi config set`, Pulumi's
    virtualenv option and a user leave in a compiled tree."""
    prod = out / "03-cluster" / "Pulumi.prod.yaml"
    prod.write_text(
        SALT + prod.read_text().replace("config:\n", "config:\n  aws:profile: acme-prod\n")
    )
    dev = out / "06-apps" / "storefront" / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + SALT + 'config:\n  acme-app-storefront:debug: "true"\n')
    venv = out / "03-cluster" / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (out / "03-cluster" / "__pycache__").mkdir()
    (out / "NOTES.md").write_text("how we deploy\n")
    (out / "03-cluster" / "runbook.md").write_text("page the platform team\n")


@pytest.mark.parametrize(
    "edit",
    [
        ("min: 3, max: 15", "min: 4, max: 16"),  # a few files: updated in place
        ("name: acme\n", "name: acme2\n"),  # every file: a new tree swapped in
    ],
    ids=["in place", "swapped"],
)
def test_a_recompile_keeps_the_salt_config_set_values_venv_and_strays(
    tmp_path: Path, edit: tuple[str, str]
) -> None:
    source = tmp_path / "platform.yaml"
    text = sample("aws").read_text().replace('version: "1.35"', 'version: "1.36"')
    source.write_text(sample("aws").read_text())
    out = tmp_path / "out"
    compile_file(source, out)
    pulumi_wrote(out)

    source.write_text(text.replace(*edit))
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "03-cluster/__main__.py" in result.output  # the stack was rewritten
    assert "03-cluster/Pulumi.prod.yaml" in result.output

    project = "acme2" if "acme2" in edit[1] else "acme"
    prod = (out / "03-cluster" / "Pulumi.prod.yaml").read_text()
    data = yaml.safe_load(prod)
    assert SALT in prod and data["encryptionsalt"].startswith("v1:")
    assert data["config"]["aws:profile"] == "acme-prod"
    expected_min = 4 if edit[1].startswith("min: 4") else 3
    assert data["config"][f"{project}-cluster:nodePools.general.min"] == expected_min
    if project == "acme2":  # keys crosswalk wrote under the old project name are gone
        assert not [k for k in data["config"] if k.startswith("acme-cluster:")]
    assert prod.startswith("# Stack 'prod' of")
    dev = yaml.safe_load((out / "06-apps" / "storefront" / "Pulumi.dev.yaml").read_text())
    assert dev["config"]["acme-app-storefront:debug"] == "true"
    assert dev["encryptionsalt"].startswith("v1:")

    assert (out / "03-cluster" / "venv" / "bin" / "python").is_symlink()
    assert (out / "03-cluster" / "venv" / "pyvenv.cfg").read_text() == "home = /usr/bin\n"
    assert (out / "03-cluster" / "__pycache__").is_dir()
    assert (out / "NOTES.md").read_text() == "how we deploy\n"
    assert (out / "03-cluster" / "runbook.md").is_file()
    for stray in ("NOTES.md", "03-cluster/runbook.md"):
        assert f"warning: {out / stray}: not written by crosswalk or Pulumi" in result.output
    assert "venv" not in result.output and "__pycache__" not in result.output

    # The tree still matches platform.yaml: Pulumi's keys are not a difference.
    check = CliRunner().invoke(main, ["compile", str(source), "-o", str(out), "--check"])
    assert check.exit_code == 0, check.output


def test_a_recompile_with_nothing_to_change_leaves_pulumis_edits_as_they_are(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    prod = out / "03-cluster" / "Pulumi.prod.yaml"
    # As Pulumi might save it: comments gone, its own order, a key of its own.
    loaded = yaml.safe_load(prod.read_text())
    values = loaded["config"]
    kept = "".join(f"{key}: {loaded[key]}\n" for key in ("secretsprovider",) if key in loaded)
    rewritten = (
        kept
        + "encryptedkey: YWJj\nconfig:\n"
        + "".join(
            f"  {key}: {json.dumps(value, sort_keys=True)}\n"
            for key, value in sorted(values.items(), reverse=True)
        )
    )
    rewritten += "  aws:region: us-west-2\n"
    prod.write_text(rewritten)
    result = compile_file(sample("aws"), out)
    assert "03-cluster/Pulumi.prod.yaml" not in result.changed
    assert prod.read_text() == rewritten


def test_a_removed_app_takes_its_directory_and_says_so(tmp_path: Path) -> None:
    source = tmp_path / "platform.yaml"
    text = sample("aws").read_text()
    source.write_text(text)
    out = tmp_path / "out"
    compile_file(source, out)
    (out / "06-apps" / "order-worker" / "venv").mkdir()
    (out / "06-apps" / "order-worker" / "venv" / "x").write_text("")
    (out / "06-apps" / "admin" / "venv").mkdir()
    (out / "06-apps" / "admin" / "notes.txt").write_text("mine")

    data = yaml.safe_load(text)
    data["apps"] = [a for a in data["apps"] if a["name"] not in ("order-worker", "admin")]
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "06-apps" / "order-worker").exists()
    assert f"removed {out / '06-apps/order-worker'}/" in result.output
    assert "still exist in the state backend" in result.output
    # A file of the user's keeps its directory; crosswalk's and Pulumi's go.
    assert sorted(p.name for p in (out / "06-apps" / "admin").iterdir()) == ["notes.txt"]
    assert f"warning: {out / '06-apps/admin/notes.txt'}" in result.output


def test_stack_config_of_another_environment_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    staging = out / "03-cluster" / "Pulumi.staging.yaml"
    staging.write_text("config:\n  aws:region: eu-west-1\n")
    result = CliRunner().invoke(main, ["compile", str(sample("aws")), "-o", str(out)])
    assert staging.read_text() == "config:\n  aws:region: eu-west-1\n"
    assert "config of stack 'staging', an environment platform.yaml does not declare" in (
        result.output
    )
    # --env writes one environment's config and keeps the others'.
    prod = (out / "03-cluster" / "Pulumi.prod.yaml").read_text()
    compile_file(sample("aws"), out, env="dev")
    assert (out / "03-cluster" / "Pulumi.prod.yaml").read_text() == prod


# --- compile --check -------------------------------------------------------------------


def test_check_passes_on_a_fresh_tree_and_names_a_hand_edited_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(main, ["compile", str(sample("aws")), "-o", str(out)]).exit_code == 0
    fresh = runner.invoke(main, ["compile", str(sample("aws")), "-o", str(out), "--check"])
    assert fresh.exit_code == 0 and "matches" in fresh.output

    program = out / "06-apps" / "storefront" / "__main__.py"
    program.write_text(program.read_text().replace("replicas", "replicaz", 1))
    stale = runner.invoke(main, ["compile", str(sample("aws")), "-o", str(out), "--check"])
    assert stale.exit_code == 1
    assert "changed  06-apps/storefront/__main__.py" in stale.output
    assert stale.output.count("  changed  ") == 1
    assert "replicaz" in program.read_text(), "--check writes nothing"

    # A plain compile notices the edit (no trusting the cache) and undoes it.
    again = runner.invoke(main, ["compile", str(sample("aws")), "-o", str(out)])
    assert "06-apps/storefront/__main__.py" in again.output
    assert (
        runner.invoke(main, ["compile", str(sample("aws")), "-o", str(out), "--check"]).exit_code
        == 0
    )


def test_check_lists_missing_and_extra_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    (out / "01-identity" / "requirements.txt").unlink()
    shutil.copytree(out / "06-apps" / "admin", out / "06-apps" / "gone")
    result = CliRunner().invoke(main, ["compile", str(sample("aws")), "-o", str(out), "--check"])
    assert result.exit_code == 1
    assert "missing  01-identity/requirements.txt" in result.output
    assert "extra  06-apps/gone/__main__.py" in result.output


def test_check_of_a_directory_crosswalk_did_not_write_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    result = CliRunner().invoke(
        main, ["compile", str(sample("aws")), "-o", str(tmp_path / "mine"), "--check"]
    )
    assert result.exit_code == 2 and "was not written by crosswalk" in result.output


def test_check_of_a_missing_tree_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["compile", str(sample("minimal")), "-o", str(tmp_path / "out"), "--check"]
    )
    assert result.exit_code == 1 and "missing  crosswalk.stacks.json" in result.output


# --- standalone: backend, organization, secrets ------------------------------------------


def without_state(text: str) -> str:
    """A sample without its `state:` block (and the comment above it)."""
    return re.sub(r"(?m)^(#[^\n]*\n)?state:\n(  [^\n]*\n)+", "", text)


def with_state(tmp_path: Path, state: str, name: str = "aws") -> Path:
    source = tmp_path / "platform.yaml"
    source.write_text(without_state(sample(name).read_text()) + state)
    return source


def test_no_program_reads_an_organization_config_key(tmp_path: Path) -> None:
    for name in ("aws", "gcp", "azure"):
        out = tmp_path / name
        compile_file(sample(name), out)
        for program in out.rglob("__main__.py"):
            text = program.read_text()
            assert '"organization"' not in text, program
            if "StackReference" in text:
                assert "org = pulumi.get_organization()" in text


@pytest.mark.parametrize(
    "backend", ["s3://acme-state", "https://api.pulumi.com", "file:///srv/pulumi", "file://~/st"]
)
def test_pulumi_yaml_names_the_backend_the_platform_sets(tmp_path: Path, backend: str) -> None:
    source = with_state(tmp_path, f"state: {{backend: '{backend}'}}\n")
    out = tmp_path / "out"
    assert not compile_file(source, out).report.errors
    for project in out.rglob("Pulumi.yaml"):
        assert yaml.safe_load(project.read_text())["backend"] == {"url": backend}


def test_without_a_backend_pulumi_yaml_names_none(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(with_state(tmp_path, ""), out)
    assert all("backend" not in yaml.safe_load(p.read_text()) for p in out.rglob("Pulumi.yaml"))


def test_a_relative_file_backend_is_left_out_of_pulumi_yaml_with_a_warning(
    tmp_path: Path,
) -> None:
    source = with_state(tmp_path, "state: {backend: 'file://state'}\n")
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning[CW313]" in result.output
    assert "backend" not in (tmp_path / "out" / "03-cluster" / "Pulumi.yaml").read_text()


def test_pulumi_yaml_declares_the_config_its_program_reads(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    project = yaml.safe_load((out / "03-cluster" / "Pulumi.yaml").read_text())
    program = (out / "03-cluster" / "__main__.py").read_text()
    read = set(re.findall(r'config\.require\w*\("([^"]+)"\)', program))
    assert set(project["config"]) == read and read
    readers = {
        key: reader for reader, key in re.findall(r'config\.require(\w*)\("([^"]+)"\)', program)
    }
    # Pulumi.yaml types what it can; objects (tags) go untyped.
    types = {"_int": "integer", "": "string", "_bool": "boolean", "_object": None}
    for key, declaration in project["config"].items():
        assert declaration.get("type") == types[readers[key]] and declaration["description"], key
    prod = yaml.safe_load((out / "03-cluster" / "Pulumi.prod.yaml").read_text())
    assert set(prod["config"]) == {f"acme-cluster:{key}" for key in read}


KMS = "awskms://alias/acme-pulumi?region=us-west-2"


def test_a_key_service_is_written_into_every_stack_file(tmp_path: Path) -> None:
    source = with_state(
        tmp_path, f"state: {{backend: 's3://acme-state', secretsProvider: '{KMS}'}}\n"
    )
    out = tmp_path / "out"
    assert not compile_file(source, out).report.errors
    files = list(out.rglob("Pulumi.*.yaml"))
    assert len(files) == 22  # 11 stacks, dev and prod
    for path in files:
        text = path.read_text()
        assert yaml.safe_load(text)["secretsprovider"] == KMS, path
        assert "#   secretsprovider\n" in text  # the header says crosswalk owns it

    # Pulumi adds its encrypted data key; a recompile keeps it.
    dev = out / "01-identity" / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text() + "encryptedkey: AQICAHh2bG9jYWw=\n")
    source.write_text(source.read_text().replace('version: "1.35"', 'version: "1.36"'))
    compile_file(source, out)
    assert yaml.safe_load(dev.read_text())["encryptedkey"] == "AQICAHh2bG9jYWw="


@pytest.mark.parametrize("provider", ["passphrase", "default"])
def test_passphrase_and_pulumi_cloud_keys_write_no_secretsprovider(
    tmp_path: Path, provider: str
) -> None:
    source = with_state(
        tmp_path, f"state: {{backend: 'https://api.pulumi.com', secretsProvider: {provider}}}\n"
    )
    out = tmp_path / "out"
    assert not compile_file(source, out).report.errors
    for path in out.rglob("Pulumi.*.yaml"):
        assert "secretsprovider" not in (yaml.safe_load(path.read_text()) or {})


def test_moving_encrypted_secrets_to_another_provider_is_refused(tmp_path: Path) -> None:
    source = with_state(tmp_path, "state: {backend: 's3://acme-state'}\n")
    out = tmp_path / "out"
    compile_file(source, out)
    dev = out / "03-cluster" / "Pulumi.dev.yaml"
    dev.write_text(SALT + dev.read_text())
    before = files_of(out)
    source.write_text(
        source.read_text().replace(
            "'s3://acme-state'", f"'s3://acme-state', secretsProvider: '{KMS}'"
        )
    )
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 2
    assert "encrypted with a passphrase" in result.output
    assert f"pulumi stack change-secrets-provider {KMS}" in result.output
    assert files_of(out) == before, "a refused compile writes nothing"


@pytest.mark.parametrize(
    "state, code, column_text",
    [
        ("{secretsProvider: 'gcpkms://projects/acme/keyRings/x'}", "CW105", "Cloud KMS key URL"),
        ("{secretsProvider: 'vault://x'}", "CW105", "a secrets provider"),
        ("{secretsProvider: 'azurekeyvault://v.example.com/keys/k'}", "CW105", "Key Vault"),
        ("{backend: 's3://acme-state', secretsProvider: default}", "CW312", "Pulumi Cloud"),
    ],
)
def test_secrets_provider_shapes_are_checked_where_they_are_written(
    tmp_path: Path, state: str, code: str, column_text: str
) -> None:
    source = with_state(tmp_path, f"state: {state}\n", "minimal")
    line = len(source.read_text().splitlines())
    result = CliRunner().invoke(main, ["validate", str(source)])
    assert result.exit_code == 1
    assert f"platform.yaml:{line}:" in result.output and f"error[{code}]" in result.output
    assert column_text in result.output


@pytest.mark.parametrize(
    "provider",
    [
        "passphrase",
        KMS,
        "awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=us-east-1",
        "awskms:///arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "gcpkms://projects/acme-prod/locations/global/keyRings/pulumi/cryptoKeys/state",
        "azurekeyvault://acme-pulumi.vault.azure.net/keys/state",
    ],
)
def test_every_documented_secrets_provider_validates(tmp_path: Path, provider: str) -> None:
    source = with_state(tmp_path, f"state: {{secretsProvider: '{provider}'}}\n", "minimal")
    result = CliRunner().invoke(main, ["validate", str(source)])
    assert result.exit_code == 0, result.output


# --- merging one stack file ---------------------------------------------------------------


def owned(**config) -> OwnedKeys:
    return OwnedKeys({f"p:{k}": v for k, v in config.items()})


def fresh(keys: OwnedKeys) -> str:
    return render_stack_config("dev", "p", keys, None)


def test_merge_edits_only_the_lines_crosswalk_owns() -> None:
    existing = (
        "# Stack 'dev' of p, written by crosswalk from platform.yaml.\n"
        "# (old header)\n"
        "# written by Pulumi, and values set with `pulumi config set`.\n"
        "# my own note\n"
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  aws:region: us-west-2   # set by hand\n"
        "  p:min: 2\n"
        "  p:old: x\n"
        '  p:mine: "true"\n'
    )
    keys = owned(min=3, new="a b")
    merged = merge_stack_config(existing, fresh(keys), keys, previously={"p:min", "p:old"})
    assert merged.endswith(
        "# my own note\n"
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  aws:region: us-west-2   # set by hand\n"
        "  p:min: 3\n"
        "  p:new: a b\n"
        '  p:mine: "true"\n'
    )
    assert merged.startswith(fresh(keys).split("config:")[0])  # the new header, once
    assert "(old header)" not in merged


def test_merge_of_an_up_to_date_file_changes_no_byte() -> None:
    existing = "config:\n  p:min: 3\n  other:key: [1, 2]\n"
    assert merge_stack_config(existing, fresh(owned(min=3)), owned(min=3)) == existing


def test_merge_tells_true_from_one_and_text_from_numbers() -> None:
    existing = "config:\n  p:on: 1\n  p:n: '2'\n"
    keys = owned(on=True, n=2)
    assert yaml.safe_load(merge_stack_config(existing, fresh(keys), keys))["config"] == {
        "p:on": True,
        "p:n": 2,
    }


def test_merge_of_a_flow_style_file_keeps_its_data() -> None:
    existing = "{encryptionsalt: v1:abc, config: {aws:region: us-west-2, p:min: 1}}\n"
    keys = owned(min=3)
    merged = yaml.safe_load(merge_stack_config(existing, fresh(keys), keys))
    assert merged == {"encryptionsalt": "v1:abc", "config": {"aws:region": "us-west-2", "p:min": 3}}


def test_merge_drops_an_emptied_config_and_adds_a_missing_one() -> None:
    assert "config" not in (
        yaml.safe_load(
            merge_stack_config(
                "config:\n  p:min: 1\n", fresh(owned()), owned(), previously={"p:min"}
            )
        )
        or {}
    )
    keys = owned(min=1)
    added = merge_stack_config("encryptionsalt: s\n", fresh(keys), keys)
    assert yaml.safe_load(added) == {"encryptionsalt": "s", "config": {"p:min": 1}}


def test_strings_that_would_read_as_something_else_are_quoted() -> None:
    keys = owned(a="true", b="16", c="yes", d="x: y", e="#x", f="ghcr.io/acme/app:1.0", g="")
    text = fresh(keys)
    assert yaml.safe_load(text)["config"] == dict(keys.config)
    assert "p:f: ghcr.io/acme/app:1.0\n" in text and 'p:a: "true"\n' in text


def test_an_unreadable_stack_file_stops_the_compile_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = tmp_path / "platform.yaml"
    source.write_text(sample("aws").read_text())
    compile_file(source, out)
    broken = out / "03-cluster" / "Pulumi.prod.yaml"
    broken.write_text("config: [\n")
    source.write_text(sample("aws").read_text().replace("min: 3, max: 15", "min: 4, max: 15"))
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{broken}: not valid YAML" in result.output and "Traceback" not in result.output


# --- every directory runs on its own ------------------------------------------------------

# Runs each stack directory of a compiled tree from a directory of its own that
# holds only that stack's files, under the SDK's mock runtime, with the
# config Pulumi would hand it (its Pulumi.yaml and Pulumi.<env>.yaml) and
# crosswalk unimportable while the program runs. Prints one JSON line.
STANDALONE = """
import json, shutil, sys, tempfile
from pathlib import Path
from crosswalk.compiler.mock_outputs import mock_tables
from crosswalk.compiler.mock_run import run_program
from crosswalk.compiler.mocks import monitor_class
from crosswalk.compiler.plan import load_stack_config

mock_tables(), monitor_class()  # the harness's own lazy imports, done before crosswalk is gone

out, env, organization = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
manifest = json.loads((out / "crosswalk.stacks.json").read_text())
exports, report = {}, {}
for stack in manifest["stacks"]:
    alone = Path(tempfile.mkdtemp()) / "program"
    shutil.copytree(out / stack["dir"], alone)
    config, secret_keys = load_stack_config(alone, stack["project"], env)
    ours = {name: module for name, module in sys.modules.items() if name.startswith("crosswalk")}
    for name in ours:
        del sys.modules[name]
    sys.modules["crosswalk"] = None  # an import of crosswalk by the program fails
    try:
        run = run_program(
            alone, project=stack["project"], stack=env, config=config,
            secret_keys=secret_keys, stack_outputs=exports, organization=organization,
        )
    finally:
        del sys.modules["crosswalk"]
        sys.modules.update(ours)
    exports[stack["project"]] = run.exports
    report[stack["dir"]] = repr(run.error) if run.error else len(run.resources)
print(json.dumps(report))
"""


@pytest.mark.parametrize(
    "name, backend, organization",
    [
        ("aws", None, "organization"),
        ("aws", "s3://acme-state", "organization"),
        ("aws", "https://api.pulumi.com", "acme-org"),
        ("aws", "file:///srv/pulumi-state", "organization"),
        ("gcp", "gs://acme-state", "organization"),
        ("azure", "azblob://acme-state", "organization"),
    ],
)
def test_every_directory_runs_alone_on_every_backend(
    tmp_path: Path, name: str, backend: str | None, organization: str
) -> None:
    pytest.importorskip("pulumi")
    state = f"state: {{backend: '{backend}'}}\n" if backend else ""
    out = tmp_path / "out"
    assert not compile_file(with_state(tmp_path, state, name), out).report.errors
    done = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(out), "prod", organization],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    manifest = json.loads((out / "crosswalk.stacks.json").read_text())
    assert list(report) == [stack["dir"] for stack in manifest["stacks"]]
    failed = {stack: result for stack, result in report.items() if isinstance(result, str)}
    assert not failed
    assert all(count > 0 for count in report.values())
    for project in out.rglob("Pulumi.yaml"):
        assert yaml.safe_load(project.read_text()).get("backend") == (
            {"url": backend} if backend else None
        )


def test_a_stack_reference_to_another_organization_does_not_resolve(tmp_path: Path) -> None:
    pytest.importorskip("pulumi")
    from crosswalk.compiler.mock_run import run_program

    program = tmp_path / "app"
    program.mkdir()
    (program / "__main__.py").write_text(
        "import pulumi\n"
        'ref = pulumi.StackReference("organization/acme-cluster/dev")\n'
        'pulumi.export("x", ref.require_output("kubeconfig"))\n'
    )
    outputs = {"acme-cluster": {"kubeconfig": "{}"}}
    run = run_program(
        program,
        project="acme-app",
        stack="dev",
        config={},
        stack_outputs=outputs,
        organization="acme-org",
    )
    assert run.error is not None and "reads organization 'organization'" in str(run.error)
    run = run_program(
        program,
        project="acme-app",
        stack="dev",
        config={},
        stack_outputs=outputs,
        organization="organization",
    )
    assert run.error is None and run.exports == {"x": "{}"}


def test_merge_into_a_file_of_comments_keeps_them() -> None:
    keys = owned(min=1)
    merged = merge_stack_config("# ours, not crosswalk's\n", fresh(keys), keys)
    assert "# ours, not crosswalk's\n" in merged
    assert yaml.safe_load(merged) == {"config": {"p:min": 1}}
