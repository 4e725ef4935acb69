"""The local stack (SPEC §11): DynamoDB Local, the table from template.yaml, demo data.

Nothing here is deployed: it stands in for AWS on one machine.
"""
