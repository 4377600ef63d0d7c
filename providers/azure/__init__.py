"""The Azure (AKS) backend. Which module emits what, and the path a new
resource kind takes, are in providers/README.md; `rules` holds what validation
knows about Azure and loads without the emitters. Each layer writes through an
`AzureProgram` (program.py).

Programs import only the pulumi_azure_native submodules they use (loading the
whole package takes ~15 s), through one explicit provider with the location.

Where things live, and why:

- identity: the platform's resource group (one per environment), the cluster's
  control-plane and kubelet identities, and a managed identity per CI
  automation federated with GitHub, holding only its layers' roles on the
  resource group. Team role assignments need the cluster as their scope, so
  they are made in the cluster layer.
- app-services owns the datastores and exports what grants on them name.
- each app's stack owns the app's managed identity, its federated credential
  for the app's Kubernetes service account and its data-plane grants, as on
  AWS and GCP: adding, changing or removing an app touches its stack alone.
  The CI identity deploying apps therefore holds Managed Identity
  Contributor, a Role Based Access Control Administrator limited to the data
  roles apps are given, and Contributor where apps are granted a PostgreSQL
  administrator, a Redis access policy or a Cosmos DB role (those are not
  role assignments).
"""

from __future__ import annotations

from functools import cache


@cache
def backend():
    from crosswalk.compiler.emit import assemble_backend
    from crosswalk.providers.azure.program import AzureProgram

    def in_program(emit):
        """Each layer writes through an AzureProgram, finished once the layer is done."""

        def run(ctx) -> None:
            az = AzureProgram(ctx)
            emit(az)
            az.finish()

        return run

    return assemble_backend("azure", in_program)
