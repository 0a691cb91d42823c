"""JSON logs: one object per line, request id attached, secrets and bearer tokens redacted."""

from __future__ import annotations

import json
import logging

from gateway.observability.logs import JsonFormatter, Redactor, bind_request_id, reset_request_id


def test_json_lines_carry_the_request_id_and_never_a_secret():
    formatter = JsonFormatter(Redactor(["s3cr3t-token-value"]))
    rid, token = bind_request_id("abc-123")
    try:
        record = logging.LogRecord(
            "gateway",
            logging.WARNING,
            __file__,
            1,
            "provider said %s with Authorization: Bearer %s",
            ("bad token s3cr3t-token-value", "tenant-key-99"),
            None,
        )
        line = json.loads(formatter.format(record))
    finally:
        reset_request_id(token)
    assert rid == "abc-123" and line["request_id"] == "abc-123"
    assert "s3cr3t-token-value" not in line["message"] and "tenant-key-99" not in line["message"]
    assert line["message"] == "provider said bad token [redacted] with Authorization: Bearer [redacted]"
    assert line["level"] == "warning"


def test_an_unsafe_request_id_is_replaced():
    rid, token = bind_request_id("bad id\nwith newline")
    reset_request_id(token)
    assert rid.startswith("req_") and "\n" not in rid
