"""A tiny provider over HTTP and its adapter, for the crash-resume test: the gateway runs in a
child process (killed with SIGKILL mid-dispatch), so the provider must live outside it.

The provider issues a document on POST /documents (keyed by our reference), can be told to hang
after issuing (`POST /_mode {"mode": "hang"}`), and can be searched by our reference, which is
what reconciliation uses after the crash. The adapter registers itself as `fakehttp` on import.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, ClassVar, Literal

import msgspec
from litestar import Litestar, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from adapters.base import Account, Adapter, Emission, Outcome, ProviderRef, register
from adapters.http import ProviderHttp, failure_for_status


class ProviderState:
    def __init__(self) -> None:
        self.mode = "ok"
        self.issued: dict[str, dict[str, Any]] = {}  # our reference → document
        self.posts = 0
        self._ids = itertools.count(1)

    def app(self) -> Litestar:
        @post("/_mode", status_code=200)
        async def set_mode(data: JSONBody[dict[str, str]]) -> dict[str, str]:
            self.mode = data["mode"]
            return {"mode": self.mode}

        @post("/documents", status_code=201)
        async def issue(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
            self.posts += 1
            reference = data["reference"]
            if reference not in self.issued:
                n = next(self._ids)
                self.issued[reference] = {"id": f"P-{n}", "number": f"FE{n}", "reference": reference}
            if self.mode == "hang":
                await asyncio.sleep(3600)
            return self.issued[reference]

        @get("/documents")
        async def search(reference: FromQuery[str]) -> list[dict[str, Any]]:
            return [d for d in self.issued.values() if d["reference"] == reference]

        @get("/documents/{doc_id:str}")
        async def status(doc_id: FromPath[str]) -> dict[str, Any]:
            return next(d for d in self.issued.values() if d["id"] == doc_id)

        return Litestar([set_mode, issue, search, status])


class FakeHttpCredentials(msgspec.Struct):
    token: str


class FakeHttpAdapter(Adapter):
    name: ClassVar[str] = "fakehttp"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset({"invoice"})
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = FakeHttpCredentials

    def __init__(self, account: Account) -> None:
        self.http = ProviderHttp(account.base_url, timeout_s=account.timeout_s)

    def build_payload(self, emission: Emission) -> Any:
        return {"reference": emission.reference, "payable": str(emission.totals.payable)}

    def _outcome(self, body: dict[str, Any]) -> Outcome:
        return Outcome(status="accepted", provider_reference=body["id"], number=body["number"])

    async def emit(self, emission: Emission) -> Outcome:
        response = await self.http.send("POST", "/documents", json=self.build_payload(emission), emits=True)
        if response.status_code != 201:
            raise failure_for_status(response, "emit failed", emits=True)
        return self._outcome(response.json())

    async def status(self, ref: ProviderRef) -> Outcome:
        response = await self.http.send("GET", f"/documents/{ref.provider_reference}")
        if response.status_code != 200:
            raise failure_for_status(response, "status failed")
        return self._outcome(response.json())

    async def find(self, emission: Emission) -> ProviderRef | None:
        response = await self.http.send("GET", "/documents", params={"reference": emission.reference})
        if response.status_code != 200:
            raise failure_for_status(response, "search failed")
        found = response.json()
        return ProviderRef(provider_reference=found[0]["id"]) if found else None

    async def aclose(self) -> None:
        await self.http.aclose()


register(FakeHttpAdapter)
