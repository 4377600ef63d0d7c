"""The nodes pull the images of the platform's own registries, on every cloud,
with a grant the plan shows: read from the offline plans of the samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=["aws", "gcp", "azure"])
def sample(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    result = compile_file(ROOT / "samples" / request.param / "platform.yaml", out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "prod")
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    return request.param, plan


def records(plan, type_: str) -> list:
    return [r for s in plan.stacks for r in s.resources if r.type == type_]


def test_the_nodes_may_pull_from_every_registry_of_the_platform(sample) -> None:
    cloud, plan = sample
    if cloud == "aws":
        (node,) = [r for r in records(plan, "aws:iam/role:Role") if r.name == "acme-node"]
        attached = {
            reveal(r.inputs)["policyArn"]
            for r in records(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if reveal(r.inputs)["role"] == node.id
        }
        # ECR's pull rights of the account: the node role also pulls EKS's add-on
        # images, which live in AWS's own accounts' registries.
        assert "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly" in attached
        repos = records(plan, "aws:ecr/repository:Repository")
        assert repos
        # ... and every node group's nodes run as it.
        groups = records(plan, "eks:index:ManagedNodeGroup")
        assert groups
        assert {reveal(g.inputs)["nodeRoleArn"] for g in groups} == {node.outputs["arn"]}
    elif cloud == "gcp":
        repos = records(plan, "gcp:artifactregistry/repository:Repository")
        assert repos
        email = plan.stack("01-identity").exports["node_service_account_email"]
        grants = records(plan, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
        assert sorted(
            (reveal(g.inputs)["repository"], reveal(g.inputs)["role"], reveal(g.inputs)["member"])
            for g in grants
        ) == sorted(
            (r.outputs["name"], "roles/artifactregistry.reader", f"serviceAccount:{email}")
            for r in repos
        )
        # On those repositories only: no project-wide registry role for the nodes.
        project_roles = [
            reveal(r.inputs)["role"]
            for r in records(plan, "gcp:projects/iAMMember:IAMMember")
            if reveal(r.inputs)["member"] == f"serviceAccount:{email}"
        ]
        assert project_roles and not [r for r in project_roles if "artifactregistry" in r]
    else:
        registries = records(plan, "azure-native:containerregistry:Registry")
        assert registries
        (cluster,) = records(plan, "azure-native:containerservice:ManagedCluster")
        kubelet = cluster.outputs["identityProfile"]["kubeletidentity"]["objectId"]
        pulls = [
            reveal(r.inputs)
            for r in records(plan, "azure-native:authorization:RoleAssignment")
            if reveal(r.inputs)["roleDefinitionId"].endswith("7f951dda-4ed3-4680-a7ca-43fe172d538d")
        ]  # AcrPull
        assert sorted((p["scope"], p["principalId"]) for p in pulls) == sorted(
            (r.outputs["id"], kubelet) for r in registries
        )
