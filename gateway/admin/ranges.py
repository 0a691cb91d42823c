"""Numbering ranges: created, listed with used and remaining numbers, retired, and imported from
DIAN's GetNumberingRange for direct-DIAN accounts."""

from __future__ import annotations

from msgspec import Struct

from adapters.base import NumberingRange, ProviderFailure
from gateway.admin.base import AdminBase, AdminRefusal
from gateway.documents import numbering, numbering_guard
from gateway.store import Conn, overlay
from gateway.tenants.config import Tenant


class RangeView(Struct, kw_only=True):
    range: NumberingRange
    next: int
    used: int
    remaining: int
    retired: bool
    source: str


class ImportRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    account: str  # a direct-DIAN account: GetNumberingRange with its software


class NextRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    next: int  # the consecutive the range gives next; never one a document already holds


def _check_range(r: NumberingRange) -> None:
    if not r.name:
        raise AdminRefusal(422, "numbering-name", "a range needs a name", "name")
    if r.from_ < 0 or r.to < r.from_:
        raise AdminRefusal(
            422, "numbering-bounds", f"`from` ({r.from_}) must be >= 0 and <= `to` ({r.to})", "from"
        )
    if r.valid_from and r.valid_to and r.valid_to < r.valid_from:
        raise AdminRefusal(422, "numbering-dates", "valid_to is before valid_from", "valid_to")
    if not r.kinds:
        raise AdminRefusal(422, "numbering-kinds", "name at least one kind", "kinds")


class RangesAdmin(AdminBase):
    async def list_ranges(self, tenant: Tenant) -> list[RangeView]:
        async with self.rt.reader.connect() as conn:
            stored = {r.name: r for r in await overlay.ranges_of(conn, tenant.id)}
            counters = {
                name: value for (_, name), value in (await numbering.positions(conn, tenant.id)).items()
            }
        views = []
        for r in tenant.numbering:
            row = stored.get(r.name)
            definition = row.definition if row else r
            next_value = int(counters.get(r.name, r.from_))
            views.append(
                RangeView(
                    range=definition,
                    next=next_value,
                    used=max(0, next_value - definition.from_),
                    remaining=max(0, definition.to - next_value + 1),
                    retired=row.retired if row else False,
                    source="api" if row else "file",
                )
            )
        return views

    async def _store_ranges(
        self, tenant: Tenant, ranges: list[NumberingRange], *, retired: bool = False
    ) -> None:
        async def change(conn: Conn, now: float) -> None:
            for r in ranges:
                values = {"definition": r, "retired": retired, "updated_at": now}
                await overlay.put_range(conn, tenant.id, r.name, values)
            await numbering.seed(conn, tenant.id, ranges)

        await self._commit(tenant.id, change)

    async def create_range(self, tenant: Tenant, r: NumberingRange) -> RangeView:
        _check_range(r)
        if any(existing.name == r.name for existing in tenant.numbering):
            raise AdminRefusal(
                409, "numbering-exists", f"range {r.name!r} exists (ranges are retired, not edited)", "name"
            )
        await self._store_ranges(tenant, [r])
        return next(v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name == r.name)

    async def retire_range(self, tenant: Tenant, name: str) -> RangeView:
        views = {v.range.name: v for v in await self.list_ranges(tenant)}
        if name not in views:
            raise AdminRefusal(404, "numbering-unknown", f"no numbering range {name!r} for this tenant")
        await self._store_ranges(tenant, [views[name].range], retired=True)
        return next(v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name == name)

    async def set_next(self, tenant: Tenant, name: str, request: NextRequest) -> RangeView:
        """Move a range's counter, e.g. after moving the store, to where DIAN's records are."""
        r = next((r for r in tenant.numbering if r.name == name), None)
        if r is None:
            raise AdminRefusal(404, "numbering-unknown", f"no numbering range {name!r} for this tenant")

        async def change(conn: Conn, now: float) -> None:
            try:
                await numbering_guard.set_next(conn, tenant.id, r, request.next)
            except numbering_guard.SetNextRefused as exc:
                raise AdminRefusal(409, exc.rule, exc.message, "next") from None

        await self._commit(tenant.id, change)
        return next(v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name == name)

    async def import_ranges(self, tenant: Tenant, request: ImportRequest) -> list[RangeView]:
        """DIAN's GetNumberingRange for a direct-DIAN account: the ranges DIAN authorised, with their
        technical keys (which the CUFE needs and nobody should type by hand)."""
        account = tenant.account(request.account)
        if account is None:
            raise AdminRefusal(
                404, "account-unknown", f"no account {request.account!r} for this tenant", "account"
            )
        adapter = self.rt.adapter(tenant.id, account)
        if "numbering_ranges" not in adapter.capabilities:
            raise AdminRefusal(
                422, "numbering-import-unsupported", f"{account.provider} has no GetNumberingRange", "account"
            )
        try:
            ranges: list[NumberingRange] = await adapter.numbering_ranges(tenant.issuer.id_number)
        except ProviderFailure as exc:
            raise AdminRefusal(
                409 if exc.kind == "misconfigured" else 502, f"numbering-import-{exc.kind}", exc.message
            ) from None
        existing = {r.name for r in tenant.numbering}
        fresh = [r for r in ranges if r.name and r.name not in existing]
        if fresh:
            await self._store_ranges(tenant, fresh)
        names = {r.name for r in ranges}
        return [v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name in names]
