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
- app-services owns datastores and therefore who may use them: the managed
  identity of each app that uses a datastore, its federated credential for
  the app's Kubernetes service account and its data-plane grants are made
  there. An app's own stack then needs no Azure rights at all, so the CI
  identity deploying apps cannot federate itself into another identity or
  grant itself access to a datastore.
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
