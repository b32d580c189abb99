"""structlog JSON logs for the operator and for Kopf's own stdlib logging, one JSON object per line."""

from __future__ import annotations

import logging
import sys

import structlog

#: Kopf's line after the shards' event handler, which looks at every event of every hub and acts on few.
QUIET = {"Handler 'hand_over' succeeded."}


class _KopfLevels(logging.Filter):
    """Kopf's levels, corrected: the shards' event handler (see QUIET) is DEBUG. (A hub that waits for a step is no
    Kopf retry at all: its resync daemon looks again, see main.deliver.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf."):
            return True
        if record.levelno == logging.INFO and record.msg in QUIET:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= logging.getLogger().getEffectiveLevel()


def configure(level: int = logging.INFO) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_KopfLevels())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _kopf_object],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # lightkube speaks through httpx2 (an httpx fork): one INFO line per request, most of a fleet's log.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _kopf_object(_: object, __: str, event: dict[str, object]) -> dict[str, object]:
    """Kopf's per-object log records carry a k8s_ref; bind it as hub=<namespace>/<name>."""
    record = event.get("_record")
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict) and ref.get("name"):
        event.setdefault("hub", f"{ref.get('namespace')}/{ref['name']}")
    return event


def hub_logger(namespace: str, name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger("communityhub").bind(hub=f"{namespace}/{name}")
