"""CRM Points: the loyalty-points ledger's domain, data access and API models.

The map of the layer (flat: an `x` module's rules sit beside its `x_store` data access).

Rules, plain Python that knows nothing of Lambda or DynamoDB (pyproject.toml's
import-linter contracts keep it so):
- `ledger`: the movements of SPEC §2 as pure functions of an account's state.
- `records`: what the table stores (accounts, lots, immutable ledger entries, approvals,
  profiles, reminders); `config`: the business settings (§10); `validation`: input rules
  and what dates mean.
- `permissions`: roles and permissions (§4); `errors`: the domain's exceptions.
- `cohorts`: points by the month they were issued in, which lots, allocations and credits
  carry; `analytics`: what one entry changes in the aggregates (§9); `finance`: the
  roll-forward, cohorts and closed months computed from them, and `deferred_revenue`: the
  breakage rate and deferred revenue (docs/finance.md); `alerts`: alerts (§7);
  `notification_templates`: the customer messages' words (§8); `lot_history`: a lot's
  life as its entries tell it; `statements`: a customer's statement of a period.

Data access, every DynamoDB key and expression:
- `dynamo`: the item codec; `transactions`: idempotency, optimistic concurrency, retries.
- `ledger_store`: accounts, entries, profiles, approvals, the daily runs' reads, done-marks.
- `analytics_store` (finance's closed months too), `alert_store`, `bulk_store`,
  `export_store` (finance's balances export): their items and transactions.

Operations, joining rules and data:
- `ledger_service`: the ledger's writes, one transaction each; `account_reads`: the summary,
  the history and the transaction search, one request each, and a statement; `lot_reads`: an entry
  explained by the lots it touched, and a lot's life; `reconciliation`: entries against
  the stored state.
- `booking_effects`: what booking events do (§5); `daily_runs`: the daily runs (§6);
  `bulk`: bulk awards; `balances_export`: finance's export of every balance at a month's
  end; `stream_reactions`: what the change stream causes (§5, §7, §8, §9);
  `personal_data`: everything held about a customer, and its erasure (POPIA).

Edges:
- `api_operations`: what each API route does after parsing (permission, then one call);
  `api_edge`: the caller from the verified token, the resolver and the error format (§3);
  `api_models`: the API's request and response models; `published`: a ledger entry as the
  API answers it and the points events carry it.
- `incoming_events`: the booking system's events and the Scheduler's runs, as received.
- `outbound`: the points bus, the notifications queue, SES and SNS.
- `settings`: every environment variable, read once at cold start; `runtime`: the
  composition root, every client and store a function gets, built once from them;
  `handlers`: what wraps every Lambda handler; `logs`, `metrics`.
"""
