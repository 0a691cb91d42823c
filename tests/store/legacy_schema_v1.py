"""FROZEN: the store's tables as the first hand-rolled migration step created them (commit 018e01b,
gateway/store/schema.py), for tests/store/test_migrations.py. Never edit: it is what old stores hold."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(64)
NAME = sa.String(128)
Time = sa.Double

schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, primary_key=True))

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", NAME, primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),  # SHA-256 hex: the key itself is never stored
    sa.Column("tenant_id", NAME, nullable=False),
)

# Accounts added through the API (issue 8) keep credentials encrypted with the server secret key;
# accounts from the tenants file keep only their `${ENV}` references.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("name", NAME, primary_key=True),
    sa.Column("provider", NAME, nullable=False),
    sa.Column("base_url", sa.String(500), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("credentials", sa.Text, nullable=False),  # encrypted JSON, or JSON of ${ENV} references
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("updated_at", Time, nullable=False),
)

numbering_counters = sa.Table(
    "numbering_counters",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("range_name", NAME, primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)

routing_rules = sa.Table(
    "routing_rules",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("rules", sa.Text, nullable=False),
    sa.Column("source_hash", sa.String(64), nullable=False),  # of the file's rules when last seeded
    sa.Column("updated_at", Time, nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant_id", NAME, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),  # compare-and-set guard
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("issue_date", sa.String(10), nullable=True),
    sa.Column("number", sa.String(64), nullable=True),
    sa.Column("consecutive", sa.BigInteger, nullable=True),
    sa.Column("numbering_range", NAME, nullable=True),
    sa.Column("chain", sa.Text, nullable=False),  # JSON list of account names, fixed at creation
    sa.Column("chain_index", sa.Integer, nullable=False, default=0),
    sa.Column("account", NAME, nullable=True),
    sa.Column("provider", NAME, nullable=True),
    sa.Column("provider_reference", sa.String(200), nullable=True),
    sa.Column("fiscal_id", sa.String(200), nullable=True),
    sa.Column("authority", sa.Text, nullable=True),
    sa.Column("document", sa.LargeBinary, nullable=False),  # canonical JSON as received (defaults filled)
    sa.Column("totals", sa.LargeBinary, nullable=False),
    sa.Column("warnings", sa.Text, nullable=False, default="[]"),
    sa.Column("links", sa.Text, nullable=False, default="{}"),
    sa.Column("xml", sa.LargeBinary, nullable=True),
    sa.Column("needs_attention", sa.Boolean, nullable=False, default=False),
    sa.Column("unknown_since", Time, nullable=True),  # when the last ambiguous attempt happened
    sa.Column("deadline", Time, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_documents_tenant_created", "tenant_id", "created_at", "id"),
    sa.Index("ix_documents_tenant_status", "tenant_id", "status"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("document_id", ID, nullable=False, index=True),
    sa.Column("account", NAME, nullable=False),
    sa.Column("provider", NAME, nullable=False),
    # in_flight (written before sending: a crash leaves it, and resume treats it as ambiguous),
    # accepted, pending, rejected, unavailable, ambiguous, misconfigured, unsupported, circuit_open,
    # reconciled, not_issued
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("at", Time, nullable=False),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),  # keys are scoped per tenant (anchors (c) 5)
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # in_flight | done
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("document_id", ID, nullable=True),
    sa.Column("created_at", Time, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # document | webhook
    sa.Column("subject", ID, nullable=False),  # document id or webhook delivery id
    sa.Column("tenant_id", NAME, nullable=False),
    sa.Column("run_at", Time, nullable=False),
    sa.Column("locked_by", sa.String(64), nullable=True),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.UniqueConstraint("kind", "subject", name="uq_jobs_kind_subject"),
    sa.Index("ix_jobs_due", "done", "run_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),  # the webhook-id header: stable across retries
    sa.Column("tenant_id", NAME, nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("url", sa.String(1000), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # pending | delivered | failed
    sa.Column("tries", sa.Integer, nullable=False, default=0),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("delivered_at", Time, nullable=True),
    sa.UniqueConstraint("event_id", "url", name="uq_webhook_event_url"),  # dedup by event id
)

breakers = sa.Table(
    "breakers",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("account", NAME, primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),  # closed | open
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("opened_until", Time, nullable=True),
    sa.Column("updated_at", Time, nullable=False),
)
