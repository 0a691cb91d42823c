"""zeep's rendering of a SOAP message without sending it, through its private `_create` or its
public API.

Verified against zeep 4.3.x (4.3.3 installed). `SoapBinding._create(operation, args, kwargs, client,
options)` is what zeep itself calls before posting: the envelope (WS-Addressing, plugins, WS-Security
applied) and its HTTP headers. With any other version `SHORTCUT` is False and the public path runs:
the operation is called through a service proxy (`Client.create_service`) whose transport (zeep's
documented extension point) posts nothing and hands the same envelope and headers back, at the cost
of a proxy call and an exception per message. Either way zeep renders only a message a template
cannot carry (adapters/dian/soap.py), so the hot path costs the same.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, Final

import zeep
from lxml import etree

VERIFIED: Final = ("4.3.",)  # version prefixes `_create`'s signature and behaviour were checked against
SHORTCUT: bool = version("zeep").startswith(VERIFIED)


class _Rendered(Exception):
    """Carries the message out of zeep's `post_xml`, the last step before anything is sent."""

    def __init__(self, envelope: etree._Element, headers: dict[str, str]) -> None:
        super().__init__("rendered, not sent")
        self.envelope, self.headers = envelope, headers


class _Capture(zeep.Transport):
    """A transport that sends nothing: the WSDL is read from our package, the messages are posted by
    httpx (adapters.http), never by zeep."""

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> Any:
        raise _Rendered(envelope, headers)


class Renderer:
    """One endpoint's messages: signed (the client's WS-Security) or unsigned (for templates)."""

    def __init__(self, wsdl: str, binding: str, address: str, *, wsse: Any) -> None:
        self.signed = zeep.Client(wsdl, wsse=wsse, transport=_Capture())
        self.unsigned = zeep.Client(  # the same parsed WSDL, plugins and settings, no WS-Security
            self.signed.wsdl,
            transport=self.signed.transport,
            plugins=self.signed.plugins,
            settings=self.signed.settings,
        )
        self.binding_name, self.address = binding, address
        self.binding = self.signed.wsdl.bindings[binding]
        self._services: dict[bool, Any] = {}

    def render(
        self, operation: str, params: dict[str, Any], *, signed: bool = True
    ) -> tuple[etree._Element, dict[str, str]]:
        """The envelope and HTTP headers zeep would post for `operation(**params)` to our address."""
        client = self.signed if signed else self.unsigned
        if SHORTCUT:
            return self.binding._create(
                operation, (), params, client=client, options={"address": self.address}
            )
        service = self._services.get(signed)
        if service is None:
            service = self._services[signed] = client.create_service(self.binding_name, self.address)
        try:
            service[operation](**params)
        except _Rendered as rendered:
            return rendered.envelope, rendered.headers
        raise AssertionError("zeep returned without posting")  # post_xml always raises
