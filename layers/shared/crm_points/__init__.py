"""CRM Points: the loyalty-points ledger's domain, data access and API models.

The domain modules (`ledger`, `permissions`, `config`, `errors`, `models`) are plain Python
that knows nothing of Lambda; `store` holds every DynamoDB key and expression; `service`
joins the two; `http` maps domain errors to the API's error format.
"""
