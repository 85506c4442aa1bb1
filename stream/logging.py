"""structlog set-up: JSON lines when stdout is not a terminal, readable console output when it is."""

import logging
import sys

import structlog


def configure_logging(level: str = "INFO") -> None:
    """Route structlog (and stdlib logging) to stdout at `level`."""
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if sys.stdout.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
