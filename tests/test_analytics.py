"""Warehouses and pipelines (`analytics`), on each cloud's sample: the secure
settings and the grants asserted on the offline plan's records, what the
cloud would receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree

ROOT = Path(__file__).resolve().parent.parent
INFRA = "02-managed-infra"


def compile_file(path: Path) -> dict[str, str]:
    document, problems = parse_document(path.read_bytes(), "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


def sample(cloud: str) -> dict:
    return yaml.safe_load((ROOT / "samples" / cloud / "platform.yaml").read_text("utf-8"))


def _plan(cloud: str, tmp_path_factory) -> PlanResult:
    out = tmp_path_factory.mktemp(f"{cloud}-analytics")
    write_tree(compile_file(ROOT / "samples" / cloud / "platform.yaml"), out)
    plan = plan_tree(out, "prod")
    failed = {s.dir: s.error for s in plan.stacks if s.error is not None}
    assert not failed, failed
    return plan


def of_type(plan: PlanResult, type_: str, stack: str | None = None) -> list:
    return [
        r for s in plan.stacks if stack in (None, s.dir) for r in s.resources if r.type == type_
    ]


def inputs(record) -> dict:
    return json.loads(json.dumps(reveal(record.inputs), default=str))


def exports(plan: PlanResult, stack: str) -> dict:
    return reveal(next(s for s in plan.stacks if s.dir == stack).exports)


# --- GCP: BigQuery ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcp(tmp_path_factory) -> PlanResult:
    return _plan("gcp", tmp_path_factory)


def test_gcp_warehouse_is_a_cmek_dataset_of_the_region(gcp) -> None:
    (dataset,) = of_type(gcp, "gcp:bigquery/dataset:Dataset", INFRA)
    args = inputs(dataset)
    assert dataset.protect and args["deleteContentsOnDestroy"] is False
    assert args["datasetId"] == "acme_prod_analytics"
    assert args["location"] == "europe-west1"
    assert args["defaultTableExpirationMs"] == 400 * 24 * 3600 * 1000
    keys = {r.name: r for r in of_type(gcp, "gcp:kms/cryptoKey:CryptoKey", INFRA)}
    key = keys["acme-warehouse"]
    assert key.protect and inputs(key)["rotationPeriod"] == "7776000s"
    key_id = args["defaultEncryptionConfiguration"]["kmsKeyName"]
    assert key_id.endswith("/cryptoKeys/acme-warehouse")
    grants = [
        r
        for r in of_type(gcp, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", INFRA)
        if inputs(r)["cryptoKeyId"] == key_id
    ]
    # BigQuery's encryption account, and no one else, may use the key.
    assert [(inputs(g)["role"], inputs(g)["member"].split("@")[1]) for g in grants] == [
        (
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "bigquery-encryption.iam.gserviceaccount.com",
        )
    ]
    assert grants[0].urn in dataset.dependencies  # BigQuery refuses a key it cannot use


def test_gcp_teams_get_the_dataset_role_of_their_access(gcp) -> None:
    teams = {t["name"]: t for t in sample("gcp")["identity"]["teams"]}
    roles = {
        "admin": "roles/bigquery.dataOwner",
        "developer": "roles/bigquery.dataEditor",
        "viewer": "roles/bigquery.dataViewer",
    }
    granted = sorted(
        (inputs(r)["member"], inputs(r)["role"])
        for r in of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", INFRA)
    )
    wanted = sorted(
        (member, roles[t.get("access", "developer")])
        for t in teams.values()
        for member in t.get("members", [])
    )
    assert granted == wanted and len(granted) >= 3
    assert {
        inputs(r)["datasetId"]
        for r in of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", INFRA)
    } == {"acme_prod_analytics"}


def test_gcp_apps_get_exactly_the_warehouses_they_use(gcp) -> None:
    users = {
        app["name"]
        for app in sample("gcp")["apps"]
        if any(isinstance(u, dict) and "warehouse" in u for u in app.get("uses", []))
    }
    assert users == {"nightly-report"}
    for stack in {s.dir for s in gcp.stacks if s.dir.startswith("06-apps/")}:
        grants = of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", stack)
        jobs = [
            r
            for r in of_type(gcp, "gcp:projects/iAMMember:IAMMember", stack)
            if inputs(r)["role"] == "roles/bigquery.jobUser"
        ]
        if stack.removeprefix("06-apps/") not in users:
            assert grants == [] and jobs == [], stack
            continue
        (grant,) = grants
        args = inputs(grant)
        assert (args["datasetId"], args["role"]) == (
            "acme_prod_analytics",
            "roles/bigquery.dataEditor",
        )
        assert args["member"].startswith("serviceAccount:acme-")
        (job,) = jobs
        assert inputs(job)["member"] == args["member"]


def test_gcp_deployers_of_warehouses(gcp) -> None:
    roles = {
        r.name: inputs(r)
        for r in of_type(gcp, "gcp:projects/iAMCustomRole:IAMCustomRole", "01-identity")
    }
    grants = [
        v for k, v in roles.items() if "warehouse" in v["title"].lower() or "BigQuery" in v["title"]
    ]
    assert grants and all(
        sorted(g["permissions"]) == ["bigquery.datasets.get", "bigquery.datasets.update"]
        for g in grants
    )
