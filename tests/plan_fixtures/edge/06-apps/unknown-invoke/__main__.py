"""An invoke the offline plan has no answer for: must fail loudly, never return {}."""

import pulumi
import pulumi_aws as aws

# apps.unknown-invoke
ami = aws.ec2.get_ami(most_recent=True, owners=["amazon"], filters=[{"name": "name", "values": ["al2023-*"]}])

pulumi.export("ami", ami.id)
