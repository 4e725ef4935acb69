"""CRM Points: the loyalty-points ledger's domain, data access and API models.

The map of the layer (flat: an `x` module's rules sit beside its `x_store` data access).

Rules, plain Python that knows nothing of Lambda or DynamoDB (pyproject.toml's
import-linter contract keeps it so):
- `ledger`: the movements of SPEC §2 as pure functions of an account's state.
- `models`: accounts, lots and immutable ledger entries; `config`: the business settings
  (§10) and the deployment settings; `validation`: input rules and what dates mean.
- `permissions`: roles and permissions (§4); `errors`: the domain's exceptions.
- `analytics`: what one entry changes in the aggregates (§9); `alerts`: alerts (§7);
  `notifications`: the customer messages' templates (§8).

Data access, every DynamoDB key and expression:
- `dynamo`: the item codec; `transactions`: idempotency, optimistic concurrency, retries.
- `store`: accounts, entries, profiles, approvals, the daily runs' reads, done-marks.
- `analytics_store`, `alert_store`, `bulk_store`: their items and transactions.

Operations, joining rules and data:
- `service`: the ledger's writes and reads, one transaction each; `reads`: the summary and
  the history, one request each; `reconciliation`: entries against the stored state.
- `bookings`: what booking events do (§5); `schedules`: the daily runs (§6);
  `bulk`: bulk awards; `reactions`: what the change stream causes (§5, §7, §8, §9).

Edges:
- `operations`: what each API route does after parsing (permission, then one call);
  `http`: the caller from the verified token, and the error format (§3); `schemas`: the
  API's response models; `events`: the booking system's events as received.
- `messaging`: the points bus, the notifications queue, SES and SNS.
- `runtime`: the composition root, every client and store a function gets, built once at
  cold start; `handlers`: what wraps every Lambda handler; `logs`, `metrics`.
"""
