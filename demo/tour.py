"""`pasarela demo`: the whole product on loopback, no credentials, no network, in under a minute.

Starts every provider simulator and the gateway (a `pasarela serve` child process on an SQLite file
in a temporary folder), with a demo tenant whose throwaway test CA and signing certificate are
generated at first run and trusted by the DIAN simulator. Then tells the story step by step, each as
a table, and cleans up (or, with `--keep`, leaves everything running and prints curl commands).

The data folder holds the demo's API keys and certificate password in plain text, so it is removed
on every way out (the end, Ctrl-C, SIGTERM) unless `--keep-data` asks otherwise. A demo refuses to
start on ports already taken: a gateway left from an earlier run would otherwise answer in its place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from adapters.hacienda.certificate import write_test_certificate
from canonical import clock
from gateway.tenants.config import load_config
from simulators import pki
from simulators.control import SimSettings
from simulators.mailbox import Mailbox
from simulators.runner import OFFSETS, SimulatorThread

BOGOTA = ZoneInfo("America/Bogota")
CREDIT_TERM = dt.timedelta(days=30)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OUTPUT = Path(tempfile.gettempdir()) / "pasarela-demo-output"  # kept after the demo ends
CO_PROVIDERS = ["dian", "apidian", "facepro", "smartapp", "koywe"]
REFUSES_CREDIT_TERMS = frozenset({"facepro", "smartapp"})  # no field for them: refused, never dropped
SOFTWARE_ID, SOFTWARE_PIN = "56f2ae4e-9812-4fad-9255-08fcfcd5ccb0", "12345"
API_KEYS = {"demo-co": "demo-co-key-0123456789", "demo-sv": "demo-sv-key-0123456789"}

TENANTS = """\
[server]
database = "sqlite:///pasarela-demo.db"
secret_key = "demo-secret-key-not-for-production"

[[tenants]]
id = "demo-co"
name = "ACME Colombia SAS"
api_keys = ["{co_key}"]

[tenants.issuer]
country = "CO"
party_type = "company"
id_type = "NIT"
id_number = "900373115"
check_digit = "3"
name = "ACME Colombia SAS"
tax_responsibilities = ["O-13"]
economic_activity = "6201"
email = "facturacion@acme.example"
phone = "6015550100"
address = {{ line = "Carrera 7 # 71-21", city_code = "11001", department_code = "11", postal_code = "110231", country = "CO" }}

[tenants.dispatch]
deadline_s = 20
max_attempts = 2
backoff_base_s = 0.05
backoff_max_s = 0.2
poll_interval_s = 0.2
reconcile_window_s = 1
breaker_threshold = 50

[[tenants.numbering]]
name = "setp"
kinds = ["invoice"]
prefix = "SETP"
resolution = "18760000001"
from = 990000000
to = 995000000
valid_from = 2019-01-19
valid_to = 2030-01-19
technical_key = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"

[[tenants.numbering]]
name = "epos"
kinds = ["pos_invoice"]
prefix = "EPOS"
resolution = "18760000001"
from = 1
to = 1000000
valid_from = 2019-01-19
valid_to = 2030-01-19

[[tenants.numbering]]
name = "dsp"
kinds = ["support_document"]
prefix = "DSP"
resolution = "18760000001"
from = 1
to = 1000000
valid_from = 2019-01-19
valid_to = 2030-01-19

[[tenants.numbering]]
name = "nc"
kinds = ["credit_note"]
prefix = "NC"
from = 1
to = 99999999

[[tenants.numbering]]
name = "nd"
kinds = ["debit_note"]
prefix = "ND"
from = 1
to = 99999999

[[tenants.accounts]]
name = "dian"
provider = "dian"
environment = "test"
base_url = "{sim_dian}/WcfDianCustomerServices.svc"
timeout_s = 1.5
credentials = {{ software_id = "{software_id}", software_pin = "{software_pin}", certificate = "{p12}", certificate_password = "{p12_password}" }}

[[tenants.accounts]]
name = "apidian"
provider = "apidian"
base_url = "{sim_apidian}/api/ubl2.1"
credentials = {{ token = "demo-apidian-token" }}

[[tenants.accounts]]
name = "facepro"
provider = "facepro"
base_url = "{sim_facepro}/api/v1"
credentials = {{ token = "demo-facepro-token" }}
range = {{ prefix = "FEPR", from = 1 }}  # FacEPro numbers this account from its own DIAN range

[[tenants.accounts]]
name = "smartapp"
provider = "smartapp"
base_url = "{sim_smartapp}"
credentials = {{ api_key = "demo-smartapp-key" }}
range = {{ prefix = "SETP", from = 990000001 }}  # SmartApp: another range, so a fallback never repeats a number

[[tenants.accounts]]
name = "koywe"
provider = "koywe"
base_url = "{sim_koywe}/V1"
# county_ids: DANE code -> Koywe's county_id; "496" is the county_id of Koywe's Colombian examples
credentials = {{ client_id = "demo-client", client_secret = "demo-secret", username = "demo@acme.example", password = "demo-password", county_ids = {{ "11001" = "496" }} }}

[[tenants.routes]]
match = {{ country = "CO", kinds = ["invoice", "credit_note", "debit_note"] }}
chain = ["dian", "apidian"]

# the buyer's copy of direct-DIAN documents, mailed to the demo's own SMTP server (simulators/mailbox.py)
[tenants.email]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "facturacion@acme.example"
retry_s = [0.2, 0.5]

[[tenants]]
id = "demo-sv"
name = "Tienda El Salvador S.A. de C.V."
api_keys = ["{sv_key}"]

[tenants.issuer]
country = "SV"
party_type = "company"
id_type = "NIT"
id_number = "06142803901121"
nrc = "2345678"
name = "Tienda El Salvador S.A. de C.V."
trade_name = "Tienda El Salvador"
economic_activity = "47190"
establishment = "M001"
point_of_sale = "P001"
email = "dte@tienda.example"
phone = "22223333"
address = {{ line = "Colonia Escalón, Calle El Mirador 123", department_code = "06", city_code = "14", country = "SV" }}

[tenants.dispatch]
deadline_s = 20
max_attempts = 2
backoff_base_s = 0.05
poll_interval_s = 0.2

[[tenants.accounts]]
name = "smartbill"
provider = "smartbill"
base_url = "{sim_smartbill}/v1"
credentials = {{ public_key = "demo-public-key", private_key = "demo-private-key" }}
transmitter_code = "001"

[[tenants.accounts]]
name = "hacienda"
provider = "hacienda"
base_url = "{sim_hacienda}"
timeout_s = 2
credentials = {{ user = "06142803901121", password = "demo-mh-api-password", certificate = "{mh_crt}", certificate_password = "{mh_crt_password}", responsible_name = "Ana María Pérez", responsible_id_number = "04567890-3" }}

[[tenants.numbering]]
name = "sv-fe"
kinds = ["invoice"]
prefix = "M001P001"
from = 1
to = 999999999999999

[[tenants.numbering]]
name = "sv-ccf"
kinds = ["tax_credit_invoice"]
prefix = "M001P001"
from = 1
to = 999999999999999

[[tenants.routes]]
match = {{ country = "SV", kinds = ["invoice", "credit_note"] }}
chain = ["smartbill"]
"""

MH_CERTIFICATE_PASSWORD = "demo-mh-private-key"
SV_ROUTES = {
    "routes": [
        {
            "match": {"country": "SV", "kinds": ["invoice", "credit_note"]},
            "chain": ["smartbill", "hacienda"],
            "allow_mixed_numbering": True,  # SmartBill numbers itself, we number for Hacienda
        },
        {"match": {"country": "SV"}, "chain": ["hacienda"]},
    ]
}

COLUMNS = ("document", "account", "status", "number", "fiscal id", "attempts", "latency")


class Demo:
    """The running world: simulators, the gateway child process, and an HTTP client for each tenant."""

    def __init__(self, workdir: Path, port: int, base_port: int) -> None:
        self.workdir, self.port, self.base_port = workdir, port, base_port
        self.url = f"http://127.0.0.1:{port}"
        self.sims: SimulatorThread | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.clients: dict[str, httpx.Client] = {}
        self.xml_paths: list[Path] = []
        self.mailbox: Mailbox | None = None
        self.copy_paths: list[Path] = []  # the buyer's copy: its PDF and the mail as received
        self.surprises: list[str] = []  # steps whose outcome was not the story's

    def expect(self, doc: dict[str, Any], status: str, account: str | None = None) -> None:
        """Note a step that did not end as the story says, so the demo cannot print "Done" over it."""
        got = (doc.get("status"), doc.get("account"))
        if got[0] != status or (account is not None and got[1] != account):
            wanted = f"{status} on {account}" if account else status
            self.surprises.append(f"{doc.get('_label', 'document')}: {got[0]} on {got[1]}, expected {wanted}")

    # -- world ------------------------------------------------------------------------------------

    def start(self) -> None:
        certs = pki.generate(self.workdir / "certs", nit="900373115")
        mh_crt = write_test_certificate("06142803901121", MH_CERTIFICATE_PASSWORD, self.workdir / "certs")
        settings = SimSettings(
            hacienda_certificates=str(mh_crt.parent),
            slow_s=1.0,
            hang_s=4.0,
            retry_after_s=1,
            trust=str(certs.ca_pem),
            dian_software=f"{SOFTWARE_ID}:{SOFTWARE_PIN}",
        )
        self.sims = SimulatorThread(base_port=self.base_port, settings=settings).start()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the story prints its own tables
        missing = sorted(set(OFFSETS) - set(self.sims.names))
        if missing:
            raise SystemExit(
                f"pasarela demo: simulators missing from this installation: {', '.join(missing)}"
            )
        self.mailbox = Mailbox().start()
        config = TENANTS.format(
            smtp_port=self.mailbox.port,
            co_key=API_KEYS["demo-co"],
            sv_key=API_KEYS["demo-sv"],
            software_id=SOFTWARE_ID,
            software_pin=SOFTWARE_PIN,
            p12=certs.p12,
            p12_password=certs.password,
            mh_crt=mh_crt,
            mh_crt_password=MH_CERTIFICATE_PASSWORD,
            **{f"sim_{name}": self.sims.url(name) for name in self.sims.names},
        )
        (self.workdir / "tenants.toml").write_text(config)
        self.sims.declare_ranges(a for t in load_config(config).tenants for a in t.accounts)
        log = (self.workdir / "gateway.log").open("wb")
        self.gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "serve",
                "--config",
                "tenants.toml",
                "--port",
                str(self.port),
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            if self.gateway.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"pasarela demo: the gateway did not start; see {self.workdir / 'gateway.log'}"
                )
            time.sleep(0.1)
        for tenant, key in API_KEYS.items():
            self.clients[tenant] = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.terminate()
            try:
                self.gateway.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
        if self.sims is not None:
            self.sims.stop()
        if self.mailbox is not None:
            self.mailbox.stop()

    # -- actions ----------------------------------------------------------------------------------

    def sim(self, name: str, method: str, path: str, body: Any = None) -> Any:
        assert self.sims is not None
        response = httpx.request(method, self.sims.url(name) + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def fault(self, name: str, mode: str, count: int | None = None) -> None:
        self.sim(name, "POST", "/_sim/faults", {"mode": mode, "count": count})

    def route(self, tenant: str, chain: list[str], country: str = "CO") -> None:
        body = {"routes": [{"match": {"country": country}, "chain": chain}]}
        response = self.clients[tenant].put("/v1/routing", json=body)
        if response.status_code != 200:
            raise SystemExit(f"pasarela demo: PUT /v1/routing refused: {response.text}")

    def emit(
        self, tenant: str, document: dict[str, Any], label: str, *, wait: bool = True
    ) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        response = self.clients[tenant].post("/v1/documents", json=document)
        elapsed = (time.perf_counter() - started) * 1000
        body = response.json()
        if response.status_code not in (201, 202):
            body = {"status": f"HTTP {response.status_code}", "problem": body}
        elif wait and body.get("status") in ("queued", "pending"):
            body = self.wait_terminal(tenant, body["id"])  # the gateway polls the provider meanwhile
            elapsed = (time.perf_counter() - started) * 1000
        body["_label"] = label
        return body, elapsed

    def wait_delivery(self, tenant: str, doc_id: str, timeout: float = 10) -> dict[str, Any]:
        """The document once its buyer's copy was mailed (or the mail failed for good)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.clients[tenant].get(f"/v1/documents/{doc_id}").json()
            ended = (doc.get("delivery") or {}).get("status") in ("delivered", "failed")
            if ended or time.monotonic() > deadline:
                return doc
            time.sleep(0.1)

    def wait_terminal(self, tenant: str, doc_id: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.clients[tenant].get(f"/v1/documents/{doc_id}").json()
            if doc["status"] in ("accepted", "rejected", "failed") or time.monotonic() > deadline:
                return doc
            time.sleep(0.2)


# -- presentation ---------------------------------------------------------------------------------


def row(doc: dict[str, Any], latency_ms: float) -> tuple[str, ...]:
    fiscal = doc.get("fiscal_id") or "—"
    attempts = doc.get("attempts") or []
    trail = " → ".join(f"{a.get('account')}:{a.get('outcome')}" for a in attempts) or "—"
    if "problem" in doc:  # refused before any attempt: the rules say why
        trail = ", ".join(sorted({e.get("rule", "?") for e in doc["problem"].get("errors", [])})) or trail
    return (
        doc.get("_label", doc.get("kind", "")),
        doc.get("account") or "—",
        doc.get("status", "?"),
        doc.get("number") or "—",
        fiscal if len(fiscal) <= 20 else fiscal[:17] + "…",
        trail,
        f"{latency_ms:.0f} ms",
    )


def table(title: str, rows: list[tuple[str, ...]], note: str = "") -> None:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    line = "  ".join("─" * w for w in widths)
    print(f"\n▶ {title}")
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    print(line)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    if note:
        print(f"  {note}")


# -- the story ------------------------------------------------------------------------------------


def sent_today(document: dict[str, Any]) -> dict[str, Any]:
    """The example as an ERP sends it today: a credit sale falls due CREDIT_TERM from today, not
    on the example's fixed date (one day too far for APIDIAN's three-digit term, then past)."""
    payment = document.get("payment") or {}
    if payment.get("due_date"):
        payment["due_date"] = (clock.today(BOGOTA) + CREDIT_TERM).isoformat()
    return document


def story(demo: Demo) -> Iterator[None]:
    co_invoice = sent_today(json.loads((EXAMPLES / "co-invoice.json").read_text()))
    sv_invoice = json.loads((EXAMPLES / "sv-invoice.json").read_text())

    demo.route("demo-co", ["dian"])
    first, ms = demo.emit("demo-co", co_invoice, "invoice")
    demo.expect(first, "accepted", "dian")
    table(
        "1. The CO example invoice, direct to DIAN (UBL 2.1, XAdES-EPES, SOAP + WS-Security)",
        [row(first, ms)],
    )
    yield

    rows = []
    for account in CO_PROVIDERS[1:]:
        demo.route("demo-co", [account])
        doc, ms = demo.emit("demo-co", co_invoice, "invoice")
        doc.setdefault("account", account)
        demo.expect(doc, "HTTP 422" if account in REFUSES_CREDIT_TERMS else "accepted", account)
        rows.append(row(doc, ms))
    table(
        "2. The same canonical invoice through every other CO provider: only the routing rule changes;"
        " one without a field for its credit terms or address codes refuses it (fiscal content is never dropped)",
        rows,
        'PUT /v1/routing {"routes": [{"match": {"country": "CO"}, "chain": [ACCOUNT]}]}',
    )
    yield

    # a cash sale to a customer given without address: what FacEPro and SmartApp can both carry
    cash_sale = {
        **co_invoice,
        "payment": {"form": "cash", "means": "cash"},
        "customer": {k: v for k, v in co_invoice["customer"].items() if k != "address"},
    }
    demo.route("demo-co", ["facepro", "smartapp"])  # both number themselves, each from its own range
    demo.fault("facepro", "down")
    doc, ms = demo.emit("demo-co", cash_sale, "invoice (cash)")
    demo.fault("facepro", "ok")
    demo.expect(doc, "accepted", "smartapp")
    table("3. FacEPro is down (503 before taking the document): fallback to SmartApp", [row(doc, ms)])
    yield

    demo.route("demo-co", ["dian", "apidian"])
    demo.fault("dian", "hang", 1)
    doc, ms = demo.emit("demo-co", co_invoice, "invoice", wait=False)
    rows = [row(doc, ms)]
    settled = demo.wait_terminal("demo-co", doc["id"])
    settled["_label"] = "  reconciled"
    demo.expect(settled, "accepted", "dian")
    rows.append(row(settled, 0))
    issued = [e for e in demo.sim("dian", "GET", "/_sim/ledger") if e.get("number") == settled.get("number")]
    table(
        "4. DIAN takes the document but the answer never arrives: `unknown`, reconciled on DIAN itself "
        "(GetStatus by CUFE; 66 = not there yet → the same signed document again; DIAN's duplicate answer confirms)",
        rows,
        f"DIAN's ledger holds {len(issued)} document(s) numbered {settled.get('number')}: no second emission, no fallback",
    )
    yield

    note = json.loads((EXAMPLES / "co-credit-note.json").read_text())
    note["reference"] = {
        "number": first.get("number"),
        "fiscal_id": first.get("fiscal_id"),
        # the invoice's issue date: the day in Bogotá it was created (created_at is UTC)
        "issue_date": dt.datetime.fromisoformat(first["created_at"])
        .astimezone(ZoneInfo("America/Bogota"))
        .date()
        .isoformat(),
    }
    doc, ms = demo.emit("demo-co", note, "credit note")
    demo.expect(doc, "accepted")
    table(f"5. A credit note referencing invoice {first.get('number')} by its CUFE", [row(doc, ms)])
    yield

    doc, ms = demo.emit("demo-sv", sv_invoice, "SV factura")
    demo.expect(doc, "accepted", "smartbill")
    table("6. The SV example via SmartBill (prices include IVA: 13/113)", [row(doc, ms)])
    yield

    demo.route("demo-co", ["dian"])
    demo.fault("dian", "reject", 1)
    doc, ms = demo.emit("demo-co", co_invoice, "invoice")
    demo.expect(doc, "rejected", "dian")
    table("7. DIAN rejects a document: the error is normalised, DIAN's own words kept", [row(doc, ms)])
    authority = doc.get("authority") or {}
    for e in authority.get("errors", [])[:3]:
        print(f"  {e.get('code')}: {e.get('message')}")
    bad = dict(co_invoice, customer={**co_invoice["customer"], "check_digit": "7"})
    response = demo.clients["demo-co"].post("/v1/documents", json=bad)
    problem = response.json()
    if response.status_code != 422:
        demo.surprises.append(
            f"a document with a wrong check digit: HTTP {response.status_code}, expected 422"
        )
    print(
        f"\n  And bad input never reaches a provider: HTTP {response.status_code} {problem.get('title', '')}"
    )
    for e in problem.get("errors", []):
        print(f"  {e['path']}: {e['message']} [{e['rule']}]")
    yield

    response = demo.clients["demo-sv"].put("/v1/routing", json=SV_ROUTES)
    if response.status_code != 200:
        raise SystemExit(f"pasarela demo: PUT /v1/routing refused: {response.text}")
    demo.fault("smartbill", "down")
    fallback, ms = demo.emit("demo-sv", sv_invoice, "SV factura")
    demo.fault("smartbill", "ok")
    ccf, ccf_ms = demo.emit("demo-sv", json.loads((EXAMPLES / "sv-tax-credit-invoice.json").read_text()), "SV CCF")
    table(
        "8. SmartBill is down: the SV factura falls back to Hacienda direct (the DTE signed here, JWS RS512); "
        "then a crédito fiscal, which only Hacienda direct emits",
        [row(fallback, ms), row(ccf, ccf_ms)],
        "GET /v1/documents/{id}/xml answers the DTE and its JWS as application/json",
    )
    yield

    pos = json.loads((EXAMPLES / "co-pos-invoice.json").read_text())
    support = json.loads((EXAMPLES / "co-support-document.json").read_text())
    rows = []
    for account in ("dian", "apidian"):
        demo.route("demo-co", [account])
        for document, label in ((pos, "POS document"), (support, "support document")):
            doc, ms = demo.emit("demo-co", document, label)
            demo.expect(doc, "accepted", account)
            rows.append(row(doc, ms))
    table(
        "9. The POS equivalent document (DIAN 20, sold to the final consumer at a cash register) and the "
        "support document (05, bought from a person who does not invoice), direct to DIAN and through APIDIAN",
        rows,
    )
    yield

    # The signed files outlive the demo's temporary folder: they are what a reader wants to open.
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for suffix, query in (("", ""), ("-attached", "?container=attached")):
        answer = demo.clients["demo-co"].get(f"/v1/documents/{first['id']}/xml{query}")
        if answer.status_code == 200:
            path = OUTPUT / f"{first.get('number')}{suffix}.xml"
            path.write_bytes(answer.content)
            demo.xml_paths.append(path)
    # The buyer's copy: the PDF the gateway drew, and the mail the buyer's server received (zip inside)
    mailed = demo.wait_delivery("demo-co", first["id"])
    delivery = mailed.get("delivery") or {}
    if delivery.get("status") != "delivered":
        demo.surprises.append(
            f"the first invoice's buyer's copy: {delivery or 'never queued'}, expected delivered"
        )
    pdf = demo.clients["demo-co"].get(f"/v1/documents/{first['id']}/pdf")
    if pdf.status_code == 200:
        path = OUTPUT / f"{first.get('number')}.pdf"
        path.write_bytes(pdf.content)
        demo.copy_paths.append(path)
    assert demo.mailbox is not None
    for received in demo.mailbox.received:
        if str(first.get("number")) in (received.message["Subject"] or ""):
            path = OUTPUT / f"{first.get('number')}.eml"
            path.write_bytes(received.raw)
            demo.copy_paths.append(path)
            break


class Stopped(Exception):
    """SIGINT or SIGTERM arrived: unwind so that every cleanup step runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, _frame: Any) -> None:
    """The first signal unwinds; later ones are ignored so that a second Ctrl-C cannot cut the
    cleanup short and leave the gateway child listening (each cleanup step is bounded in time)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def busy_ports(ports: Iterable[int]) -> list[int]:
    """The ports on 127.0.0.1 that something already listens on (SO_REUSEADDR, as uvicorn binds:
    a port in TIME_WAIT is free)."""
    busy = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


def simulator_ports(base_port: int) -> list[int]:
    return [base_port + offset for offset in sorted(set(OFFSETS.values()))]


def free_base_port(after: int) -> int | None:
    """A --base-port to suggest: the next hundred whose simulator ports are all free."""
    for base in range(after + 100, 65000, 100):
        if not busy_ports(simulator_ports(base)):
            return base
    return None


def ports_problem(port: int, base_port: int) -> str | None:
    """Why the demo cannot start on these ports, naming the option that fixes it; None when free."""
    if busy_ports([port]):
        return (
            f"pasarela demo: port {port} is taken, perhaps by a gateway an earlier demo left running; "
            f"stop it, or choose another port with --port"
        )
    taken = busy_ports(simulator_ports(base_port))
    if taken:
        suggestion = free_base_port(base_port)
        hint = f" (e.g. --base-port {suggestion})" if suggestion else ""
        return (
            f"pasarela demo: simulator port(s) {', '.join(map(str, taken))} are taken; "
            f"choose free ones with --base-port{hint}"
        )
    return None


def run(
    keep: bool = False,
    port: int = 8000,
    base_port: int = 8101,
    workdir: str | None = None,
    keep_data: bool = False,
) -> int:
    problem = ports_problem(port, base_port)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(keep, port, base_port, workdir, keep_data)
    except Stopped as stop:
        # with --keep a signal is the expected way out; otherwise the story was cut short
        print(f"\nStopped ({stop}); the gateway and simulators are down.", file=sys.stderr)
        return 0 if keep else 128 + stop.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(keep: bool, port: int, base_port: int, workdir: str | None, keep_data: bool) -> int:
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if workdir or keep_data:
            folder = Path(workdir or tempfile.mkdtemp(prefix="pasarela-demo-"))
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pasarela-demo-")))
        demo = Demo(folder, port, base_port)
        stack.callback(demo.stop)  # registered last, so it runs first: processes stop, then the folder goes
        last = max(simulator_ports(base_port))
        print(
            f"Pasarela demo: gateway on {demo.url}, simulators on ports {base_port}-{last}, data in {folder}"
        )
        demo.start()
        for _ in story(demo):
            pass
        if demo.xml_paths:
            print(
                "\nThe first invoice as DIAN received it (signed UBL), and the AttachedDocument for the buyer:"
            )
            for path in demo.xml_paths:
                print(f"  {path}")
            print("  (GET /v1/documents/{id}/xml and /xml?container=attached)")
        if demo.copy_paths:
            print(
                "\nThe buyer's copy of that invoice: the PDF, and the mail its server received (zip inside):"
            )
            for path in demo.copy_paths:
                print(f"  {path}")
            print("  (GET /v1/documents/{id}/pdf; POST /v1/documents/{id}/deliver sends it again)")
        if demo.surprises:
            print("\nThe demo did not go as told:", *demo.surprises, sep="\n  ", file=sys.stderr)
            return 1
        print(f"\nDone in {time.monotonic() - started:.1f} s.")
        if keep_data:
            print(f"The data folder stays (it holds plain-text keys): {folder}")
        if keep:
            _print_try(demo)
            while demo.gateway is not None and demo.gateway.poll() is None:
                time.sleep(1)
            print("pasarela demo: the gateway stopped.", file=sys.stderr)
            return 1
    return 0


def _print_try(demo: Demo) -> None:
    key = API_KEYS["demo-co"]
    print(
        "\nEverything keeps running (Ctrl-C or SIGTERM stops it and removes the data). Try:\n"
        f"  curl -s -X POST {demo.url}/v1/documents -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' --data @examples/co-invoice.json\n"
        f"  curl -s {demo.url}/v1/documents -H 'Authorization: Bearer {key}'\n"
        f"  curl -s {demo.url}/v1/providers -H 'Authorization: Bearer {key}'\n"
        f"  curl -s -X POST {demo.url}/v1/documents/preview -H 'Authorization: Bearer {key}' --data @examples/co-invoice.json\n"
        f"  curl -s {demo.url}/metrics\n"
        f"  open {demo.url}/schema/swagger"
    )
