"""structlog set-up: JSON lines when stdout is not a terminal, readable console output when it is."""

import logging
import sys

import structlog


def configure_logging(level: str = "INFO", *, to_stderr: bool = False) -> None:
    """Route structlog (and stdlib logging) to stdout at `level`, or to stderr for commands whose stdout
    is their result (`pld eval --json`)."""
    stream = sys.stderr if to_stderr else sys.stdout
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if stream.isatty() else structlog.processors.JSONRenderer()
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
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
