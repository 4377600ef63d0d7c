"""Azure (AKS): facts about the cloud."""

import re

from crosswalk.providers import ProviderRules

RULES = ProviderRules(
    cloud="azure",
    title="Azure",
    regions=frozenset(
        """
        eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus
        westcentralus canadacentral canadaeast brazilsouth mexicocentral northeurope westeurope
        uksouth ukwest francecentral germanywestcentral norwayeast swedencentral
        switzerlandnorth polandcentral italynorth spaincentral austriaeast belgiumcentral
        eastasia southeastasia japaneast japanwest koreacentral centralindia southindia
        westindia australiaeast australiasoutheast australiacentral newzealandnorth uaenorth
        southafricanorth qatarcentral israelcentral indonesiacentral malaysiawest chilecentral
        """.split()
    ),
    region_pattern=re.compile(r"^[a-z]+[0-9]?$"),
    region_example="westeurope",
    machine_type_pattern=re.compile(r"^Standard_[A-Za-z0-9_]+$"),
    machine_type_example="Standard_D4s_v5",
)
