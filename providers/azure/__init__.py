"""The Azure (AKS) backend: what each layer's program creates on Azure.

One module per layer (`identity`, `managed_infra`, `cluster`,
`cluster_services`, `app_services` with `datastores`, `apps`), the program
being written and its building blocks in `program`, the cloud's facts and
validation rules in `rules`, and the outputs the offline plan makes up for
Azure resources in `mocks`. Kubernetes objects and Helm releases every cloud
shares come from `crosswalk.providers.kubernetes`.

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

Importing this package stays cheap (validation imports `rules` through it);
the emitters load when `backend()` is first called.
"""

from __future__ import annotations

from functools import cache


@cache
def backend():
    from crosswalk.compiler.emit import Backend
    from crosswalk.providers.azure import (
        app_services,
        apps,
        cluster,
        cluster_services,
        identity,
        managed_infra,
    )
    from crosswalk.providers.azure.program import AzureProgram

    def in_program(emit):
        """Each layer writes through an AzureProgram, finished once the layer is done."""

        def run(ctx) -> None:
            az = AzureProgram(ctx)
            emit(az)
            az.finish()

        return run

    return Backend(
        cloud="azure",
        identity=in_program(identity.emit_identity),
        managed_infra=in_program(managed_infra.emit_managed_infra),
        cluster=in_program(cluster.emit_cluster),
        cluster_services=in_program(cluster_services.emit_cluster_services),
        app_services=in_program(app_services.emit_app_services),
        app=in_program(apps.emit_app),
    )
