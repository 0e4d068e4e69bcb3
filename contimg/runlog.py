"""Logging for workflow scripts: one log file per job, messages also on stderr."""

from __future__ import annotations

import logging
import sys


def setup(log_file: str | None, name: str = "contimg") -> logging.Logger:
    """Send INFO and above (and any uncaught error) to ``log_file`` and stderr; return the logger."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    logger = logging.getLogger(name)

    def log_uncaught(kind, value, traceback):
        logger.error("failed: %s", value, exc_info=(kind, value, traceback))

    sys.excepthook = log_uncaught  # the job's log file then says why it failed
    return logger
