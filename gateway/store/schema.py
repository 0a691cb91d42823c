"""The store's tables (SQLAlchemy Core). Times are UNIX seconds (float): comparable the same way in
SQLite and PostgreSQL, no time-zone surprises. JSON columns hold msgspec-encoded bytes as text.

A schema change is a change here AND a new alembic revision in gateway/store/migrations/versions/
(gateway.store.migrations says how to draft it; tests/store/test_migrations.py fails while the two
disagree). A shipped revision never changes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(64)
NAME = sa.String(128)
Time = sa.Double

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", NAME, primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # issue 8 (migration 2): tenants created through the admin API, and a revision every admin
    # change bumps so each process reloads the tenant it caches
    sa.Column("issuer", sa.Text, nullable=True),  # JSON Issuer, for tenants not in the file
    sa.Column("dispatch", sa.Text, nullable=True),  # JSON Dispatch settings, idem
    sa.Column("source", sa.String(8), nullable=False, server_default="file"),  # file | api
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),  # SHA-256 hex: the key itself is never stored
    sa.Column("tenant_id", NAME, nullable=False),
    # issue 8 (migration 2): keys managed through the API; file keys get an id derived from the hash
    sa.Column("key_id", sa.String(40), nullable=True),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("prefix", sa.String(16), nullable=True),  # first characters, to tell keys apart in lists
    sa.Column("created_at", Time, nullable=True),
    sa.Column("expires_at", Time, nullable=True),  # set by a rotation: the old key's overlap ends here
    sa.Column("revoked_at", Time, nullable=True),
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
    # issue 8 (migration 2): `api` rows were created or changed through the admin API and win over
    # the file at start; their credentials are always sealed
    sa.Column("source", sa.String(8), nullable=False, server_default="file"),
    sa.Column("timeout_s", sa.Double, nullable=True),
    sa.Column("transmitter_code", sa.String(16), nullable=True),
    # migration 4 (issue 14): a self-numbering provider's declared range, JSON AccountRange
    sa.Column("own_range", sa.Text, nullable=True),
)

numbering_counters = sa.Table(
    "numbering_counters",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("range_name", NAME, primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)

# issue 14 (migration 4): numbers the counter has handed out that no document holds yet. Creations
# take the lowest one they can lock (SKIP LOCKED), so they never wait for each other; a creation
# that rolls back (or dies) leaves its number here for the next one.
numbering_slots = sa.Table(
    "numbering_slots",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("range_name", NAME, primary_key=True),
    sa.Column("consecutive", sa.BigInteger, primary_key=True),
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
    # issue 8 (migration 2): void links, both ways
    sa.Column("voided_by", ID, nullable=True),  # CO: the annulling credit note; SV: "invalidation"
    sa.Column("voids", ID, nullable=True),  # on the annulling credit note: the document it voids
    sa.Column("voided_at", Time, nullable=True),
    # issue 19: the buyer's copy by e-mail, JSON {status, to, at, error} (gateway.delivery.mail)
    sa.Column("delivery", sa.Text, nullable=True),
    sa.Index("ix_documents_tenant_created", "tenant_id", "created_at", "id"),
    sa.Index("ix_documents_tenant_status", "tenant_id", "status"),
    # migration 4: the highest number a range gave, read at every start (gateway.documents.numbering_guard)
    sa.Index("ix_documents_range_consecutive", "tenant_id", "numbering_range", "consecutive"),
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
    sa.Index("ix_attempts_at", "at"),  # revision 0b7d4e2f9c13: the retention sweep's oldest first
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
    # migration 4: the request holding the record (a job-lease owner): fences take-overs and links
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Index("ix_idempotency_created_at", "created_at"),  # revision 0b7d4e2f9c13: the retention sweep
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
    sa.Index("ix_webhook_deliveries_delivered_at", "delivered_at"),  # revision 0b7d4e2f9c13: retention
)

# issue 14 (migration 4): failed authentications per client address, shared by every process
auth_failures = sa.Table(
    "auth_failures",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Index("ix_auth_failures_client_at", "client", "at"),
    sa.Index("ix_auth_failures_at", "at"),
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


# -- issue 8 (migration 2): administration through the API, alerts ----------------------------------

admin_keys = sa.Table(
    "admin_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),  # SHA-256 of PASARELA_ADMIN_KEY
    sa.Column("created_at", Time, nullable=False),
)

numbering_ranges = sa.Table(
    "numbering_ranges",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("name", NAME, primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),  # JSON NumberingRange
    sa.Column("retired", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", Time, nullable=False),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("tenant_id", NAME, nullable=False, index=True),
    sa.Column("url", sa.String(1000), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),  # sealed with the server secret key
    sa.Column("events", sa.Text, nullable=False),  # JSON list
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # migration 3: a rotation's overlap, when the previous secret still signs
    sa.Column("previous_secret", sa.Text, nullable=True),  # sealed
    sa.Column("previous_until", Time, nullable=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("tenant_id", NAME, primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),  # numbering.low | account.misconfigured
    sa.Column("subject", NAME, primary_key=True),  # range or account name
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("raised", sa.Integer, nullable=False, default=0),  # how many times it fired
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("updated_at", Time, nullable=False),
)
