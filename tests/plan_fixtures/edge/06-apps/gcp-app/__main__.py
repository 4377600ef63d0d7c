"""A GCP program: used to check the install hint when its SDK is missing."""

import pulumi
import pulumi_gcp as gcp

# apps.gcp-app
account = gcp.serviceaccount.Account("app", account_id="edge-app")

pulumi.log.warn("gcp-app: no workload identity binding yet")
pulumi.export("email", account.email)
