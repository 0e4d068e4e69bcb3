"""Logging for workflow scripts: one log file per job, messages also on stderr."""

from __future__ import annotations

import logging
import sys


def setup(log_file: str | None, name: str = "contimg") -> logging.Logger:
    """Send INFO and above to ``log_file`` (if given) and to stderr; return the logger."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    return logging.getLogger(name)
