"""The GCP (GKE) backend. Which module emits what, and the path a new
resource kind takes, are in providers/README.md; `rules` holds what validation
knows about GCP and loads without the emitters.

Workload identity is GKE's: a Google service account per workload that calls
a Google API, which one Kubernetes service account may impersonate
(`roles/iam.workloadIdentityUser` for `<project>.svc.id.goog[<ns>/<ksa>]`).
CI identities federate GitHub's OIDC tokens through a Workload Identity pool.
No service-account key exists anywhere.
"""

from __future__ import annotations

from functools import cache


@cache
def backend():
    from crosswalk.compiler.emit import assemble_backend

    return assemble_backend("gcp")
