"""The AWS (EKS) backend: what each layer's program creates on AWS.

One module per layer (`identity`, `managed_infra`, `cluster`,
`cluster_services`, `app_services` with `datastores`, `apps`), what they share
in `common`, the cloud's facts and validation rules in `rules`, and the
outputs the offline plan makes up for AWS resources in `mocks`. Kubernetes
objects and Helm releases every cloud shares come from
`crosswalk.providers.kubernetes`.

Importing this package stays cheap (validation imports `rules` through it);
the emitters load when `backend()` is first called.
"""

from __future__ import annotations

from functools import cache


@cache
def backend():
    from crosswalk.compiler.emit import Backend
    from crosswalk.providers.aws import (
        app_services,
        apps,
        cluster,
        cluster_services,
        identity,
        managed_infra,
    )

    return Backend(
        cloud="aws",
        identity=identity.emit_identity,
        managed_infra=managed_infra.emit_managed_infra,
        cluster=cluster.emit_cluster,
        cluster_services=cluster_services.emit_cluster_services,
        app_services=app_services.emit_app_services,
        app=apps.emit_app,
    )
