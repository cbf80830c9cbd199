"""One line, not a traceback, per malformed HTTP request. aiohttp logs every request it cannot
parse (a request line over 8 KB, bad headers) at ERROR with a full traceback: anyone on the
internet could fill the gateway's log with them. They are refused with 400 all the same; this
filter on the "aiohttp.server" logger turns each into a single WARNING with the exception's name."""

from __future__ import annotations

import logging
import re

AIOHTTP_SERVER_LOGGER = "aiohttp.server"
_HTTP_EXCEPTION = re.compile(r"aiohttp\.http_exceptions\.(\w+)")


class QuietBadRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.exc_text or ""
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{type(record.exc_info[1]).__module__}.{type(record.exc_info[1]).__name__}"
        found = _HTTP_EXCEPTION.search(text)
        if found is None:
            return True
        record.msg, record.args = f"malformed HTTP request refused: {found.group(1)}", ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


def quiet_bad_requests() -> None:
    """Install the filter (idempotent); call it after logging is configured."""
    logger = logging.getLogger(AIOHTTP_SERVER_LOGGER)
    if not any(isinstance(f, QuietBadRequests) for f in logger.filters):
        logger.addFilter(QuietBadRequests())
