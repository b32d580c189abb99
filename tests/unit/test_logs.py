"""The operator's JSON logs: a hub waiting for a step is INFO, a real failure stays ERROR."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from communityhub.runtime import logs


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure()
    out = io.StringIO()
    (handler,) = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.filters]
    handler.setStream(out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_kopf_failures_stay_errors(json_logs: io.StringIO) -> None:
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_objects.error("Handler 'deliver' failed temporarily: apiserver said 500")
    kopf_objects.error("Handler 'deliver' failed with an exception. Will retry.")
    levels = [(entry["level"], entry["event"]) for entry in lines(json_logs)]
    assert [level for level, _ in levels] == ["error", "error"], levels


def test_one_line_per_http_request_is_not_logged(json_logs: io.StringIO) -> None:
    """lightkube's transport (httpx2) logs every request at INFO: at fleet scale most of the log, and noise."""
    logging.getLogger("httpx2").info('HTTP Request: GET https://api/v1/namespaces "HTTP/1.1 200 OK"')
    logging.getLogger("httpx2").warning("connection pool full")
    assert [entry["event"] for entry in lines(json_logs)] == ["connection pool full"]


def test_the_shards_event_handler_is_debug(json_logs: io.StringIO) -> None:
    for quiet in sorted(logs.QUIET):
        logging.getLogger("kopf.objects").info(quiet)
    logging.getLogger("kopf.objects").info("Handler 'deliver' succeeded.")
    assert [entry["event"] for entry in lines(json_logs)] == ["Handler 'deliver' succeeded."]
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("kopf.objects").info("Handler 'hand_over' succeeded.")
    assert lines(json_logs)[-1] == {**lines(json_logs)[-1], "event": "Handler 'hand_over' succeeded.", "level": "debug"}
