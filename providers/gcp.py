"""GCP (GKE): facts about the cloud."""

import re

from crosswalk.providers import ProviderRules

RULES = ProviderRules(
    cloud="gcp",
    title="GCP",
    regions=frozenset(
        """
        us-central1 us-east1 us-east4 us-east5 us-south1 us-west1 us-west2 us-west3 us-west4
        northamerica-northeast1 northamerica-northeast2 northamerica-south1 southamerica-east1
        southamerica-west1 europe-west1 europe-west2 europe-west3 europe-west4 europe-west6
        europe-west8 europe-west9 europe-west10 europe-west12 europe-north1 europe-north2
        europe-central2 europe-southwest1 asia-east1 asia-east2 asia-northeast1 asia-northeast2
        asia-northeast3 asia-south1 asia-south2 asia-southeast1 asia-southeast2
        australia-southeast1 australia-southeast2 me-west1 me-central1 me-central2 africa-south1
        """.split()
    ),
    region_pattern=re.compile(r"^[a-z]+-[a-z]+[0-9]+$"),
    region_example="europe-west1",
    machine_type_pattern=re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$"),
    machine_type_example="e2-standard-4",
    needs_project=True,
)
