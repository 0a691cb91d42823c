"""The named store functions other modules call (issue 16), on SQLite and PostgreSQL: typed
records with their JSON columns decoded, the conditional writes that callers use as fences, and
the unique-key collision translated into store.Conflict."""

from __future__ import annotations

import msgspec
import pytest
import sqlalchemy as sa
from test_store import document_row

from adapters.base import Authority
from canonical.document import Issuer
from gateway.store import (
    Conflict,
    alerts,
    breakers,
    idempotency,
    keys,
    overlay,
    records,
    tenant_records,
    tenants,
)
from gateway.store import documents as docs
from gateway.store import numbering as counters
from gateway.store import webhooks as outbox
from gateway.store.records import AttemptRecord, DocumentRecord
from gateway.store.schema import (
    accounts,
    api_keys,
    attempts,
    documents,
    jobs,
    numbering_ranges,
    webhook_deliveries,
    webhook_endpoints,
)
from gateway.store.schema import (
    breakers as breaker_rows,
)
from gateway.store.schema import (
    idempotency as idempotency_rows,
)
from gateway.store.schema import (
    tenants as tenant_rows,
)
from gateway.tenants.config import Dispatch
from gateway.tenants.routing import Route

T0 = 1_700_000_000.25


@pytest.mark.parametrize(
    ("record", "table"),
    [
        (DocumentRecord, documents),
        (AttemptRecord, attempts),
        (records.JobRecord, jobs),
        (records.DeliveryRecord, webhook_deliveries),
        (records.BreakerRecord, breaker_rows),
        (records.IdempotencyRecord, idempotency_rows),
        (tenant_records.TenantRecord, tenant_rows),
        (tenant_records.KeyRecord, api_keys),
        (tenant_records.AccountRecord, accounts),
        (tenant_records.RangeRecord, numbering_ranges),
        (tenant_records.EndpointRecord, webhook_endpoints),
    ],
)
def test_records_follow_the_tables_column_order(record, table):
    assert record.__struct_fields__ == tuple(table.c.keys())


async def test_documents_come_back_as_records_with_json_decoded(engine):
    async with engine.begin() as conn:
        inserted = await docs.insert(
            conn, document_row("d1", T0, chain=["a", "b"], warnings=["w"], links={"pdf": "u"})
        )
        await docs.record_attempt(conn, "d1", "a", "fake", "accepted", T0, latency_ms=5)
    async with engine.connect() as conn:
        got = await docs.get(conn, "d1", "t1")
        assert await docs.get(conn, "d1", "t2") is None  # another tenant's id is 'not found'
        tried = await docs.attempts_of(conn, "d1")
        page, _ = await docs.list_page(conn, "t1")
    assert isinstance(got, DocumentRecord) and got == inserted == page[0]
    assert (got.chain, got.warnings, got.links) == (["a", "b"], ["w"], {"pdf": "u"})
    assert [(a.account, a.outcome, a.latency_ms) for a in tried] == [("a", "accepted", 5)]
    assert isinstance(tried[0], AttemptRecord)
    async with engine.begin() as conn:
        moved = await docs.transition(conn, got, "accepted", T0 + 1, links={"xml": "v"})
    assert (moved.status, moved.version, moved.links, moved.chain) == (
        "accepted",
        2,
        {"xml": "v"},
        ["a", "b"],
    )


async def test_void_claim_and_version_fences(engine):
    async with engine.begin() as conn:
        row = await docs.insert(conn, document_row("d1", T0, status="rejected"))
        assert await docs.claim_void(conn, "d1", "claim", T0, T0 - 10)
        assert not await docs.claim_void(conn, "d1", "claim", T0 + 1, T0 - 10)  # a live claim holds
        assert await docs.claim_void(conn, "d1", "claim", T0 + 100, T0 + 50)  # a stale one is taken
        await docs.set_fields_if_voided_by(conn, "d1", "someone-else", voided_by=None)
        assert (await docs.get(conn, "d1")).voided_by == "claim"
        await docs.set_fields_if_voided_by(conn, "d1", "claim", voided_by=None)
        assert (await docs.get(conn, "d1")).voided_by is None
        assert await docs.update_if_version(conn, "d1", row.version, status="queued", version=row.version + 1)
        assert not await docs.update_if_version(conn, "d1", row.version, status="queued")


async def test_numbering_slots_counters_and_highest(engine):
    async with engine.begin() as conn:
        await counters.seed_counter(conn, "t1", "r", 10)
        await counters.seed_counter(conn, "t1", "r", 99)  # an existing counter keeps its position
        assert await counters.lock_counter(conn, "t1", "r") == 10
        assert await counters.take_slot(conn, "t1", "r") is None
        await counters.set_counter(conn, "t1", "r", 14)
        await counters.add_slots(conn, "t1", "r", range(11, 14))
        assert await counters.lowest_slot(conn, "t1", "r") == 11
        assert await counters.take_slot(conn, "t1", "r") == 11
        assert await counters.positions(conn, "t1") == {("t1", "r"): 12}
        await counters.drop_slots(conn, "t1", "r")
        assert await counters.counter(conn, "t1", "r") == 14
        assert await counters.lowest_slot(conn, "t1", "r") is None
        await docs.insert(conn, document_row("d1", T0, numbering_range="r", consecutive=13))
        assert await docs.highest_consecutive(conn, "t1", "r") == 13


async def test_typed_values_are_encoded_and_decoded_by_the_store(engine):
    delivery = records.Delivery(status="pending", to=["buyer@example.co"])
    async with engine.begin() as conn:
        inserted = await docs.insert(conn, document_row("d1", T0))
        await docs.set_fields(conn, "d1", authority=Authority(code="00", seal="S"), delivery=delivery)
        got = await docs.get(conn, "d1")
    assert (records.authority_of(inserted), records.delivery_of(inserted)) == (Authority(), None)
    assert records.authority_of(got) == Authority(code="00", seal="S")
    assert records.delivery_of(got) == delivery
    assert msgspec.json.decode(got.authority) == {"code": "00", "seal": "S"}  # the column holds JSON


async def test_breaker_rows(engine):
    async with engine.begin() as conn:
        assert await breakers.state(conn, "t1", "a") is None
        assert await breakers.count_failure(conn, "t1", "a", T0) == 1
        assert await breakers.count_failure(conn, "t1", "a", T0) == 2
        await breakers.open_until(conn, "t1", "a", T0, T0 + 30)
        assert not await breakers.take_probe(conn, "t1", "a", T0 + 10, 30)  # still cooling down
        assert await breakers.take_probe(conn, "t1", "a", T0 + 30, 30)
        assert not await breakers.take_probe(conn, "t1", "a", T0 + 30, 30)  # one probe only
        await breakers.reset(conn, "t1", "a", T0 + 31)
        assert (await breakers.state(conn, "t1", "a")).state == "closed"


async def test_idempotency_conflict_and_fences(engine):
    async with engine.begin() as conn:
        await idempotency.insert(conn, "t1", "k", "print", "w1/a", T0)
    with pytest.raises(Conflict):
        async with engine.begin() as conn:
            await idempotency.insert(conn, "t1", "k", "print", "w2/b", T0)
    async with engine.begin() as conn:
        row = await idempotency.get(conn, "t1", "k")
        assert await idempotency.take_over_unchanged(conn, row, "w2/b", T0 + 1)
        assert not await idempotency.take_over_unchanged(conn, row, "w3/c", T0 + 2)  # changed since read
        assert not await idempotency.link_document(conn, "t1", "k", "w1/a", "d1")  # no longer w1's
        assert await idempotency.link_document(conn, "t1", "k", "w2/b", "d1")


async def test_alerts_fire_once_per_occurrence(engine):
    async with engine.begin() as conn:
        assert await alerts.turn_on(conn, "t1", "account.misconfigured", "a#cert", "x", T0) == 1
        assert await alerts.turn_on(conn, "t1", "account.misconfigured", "a#cert", "x", T0) is None
        assert await alerts.active_counts(conn) == {("t1", "account.misconfigured"): 1}
        await alerts.turn_off(conn, "t1", "account.misconfigured", "a", T0)
        assert await alerts.turn_on(conn, "t1", "account.misconfigured", "a#cert", "x", T0) == 2


async def test_tenants_keys_overlay_and_outbox(engine):
    async with engine.begin() as conn:
        await tenants.seed_from_file(conn, "t1", "One", T0)
        issuer = Issuer(name="Two", id_type="NIT", id_number="900", country="SV")
        assert not await tenants.create(conn, "t1", "Again", issuer, Dispatch(), T0)
        assert await tenants.create(conn, "t2", "Two", issuer, Dispatch(lease_s=5), T0)
        await keys.seed(conn, "digest", "t1")
        await keys.seed(conn, "digest", "t1")
        await tenants.bump(conn, "t1", T0)
        assert await tenants.routing(conn, "t1") is None
        await tenants.insert_routing(conn, "t1", [], "h1", T0)
        assert await tenants.routing(conn, "t1") == []
        await tenants.set_routing(conn, "t1", [Route(chain=["a"])], T0, source_hash="h2")
        values = {
            "provider": "fake",
            "base_url": "u",
            "environment": "test",
            "credentials": "",
            "updated_at": T0,
        }
        await overlay.put_account(conn, "t1", "a", {**values, "source": "api"})
        await overlay.put_account(conn, "t1", "a", {**values, "base_url": "file"}, from_file=True)
        assert await outbox.queue(conn, "m1", "t1", "e1", "document.accepted", "http://x", b"{}", T0)
        assert not await outbox.queue(conn, "m1", "t1", "e1", "document.accepted", "http://x", b"{}", T0)
    await outbox.update(engine, "m1", state="failed", tries=3)
    async with engine.begin() as conn:
        assert (await keys.by_digest(conn, "digest")).revision == 1
        assert await tenants.revision(conn, "t1") == 1
        assert await tenants.routing_source_hash(conn, "t1") == "h2"
        assert await tenants.routing(conn, "t1") == [Route(chain=["a"])]
        assert (await overlay.accounts_of(conn, "t1"))[0].base_url == "u"  # the API's row wins
        file_tenant, api_tenant = await tenants.all_rows(conn)
        assert (file_tenant.issuer, file_tenant.dispatch) == (None, None)
        assert (api_tenant.issuer.country, api_tenant.dispatch.lease_s) == ("SV", 5)
        assert await overlay.account_sources(conn, "t1") == {"a": "api"}
        assert await outbox.rearm(conn, "t2", "m1") is None  # another tenant's delivery
        rearmed = await outbox.rearm(conn, "t1", "m1")
        assert (rearmed.state, rearmed.tries) == ("pending", 0)
        assert (await conn.execute(sa.select(sa.func.count()).select_from(documents))).scalar() == 0
