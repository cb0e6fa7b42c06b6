"""The libraries' log level, set from `TrainingArguments.get_process_log_level()` as transformers does.

transformers calls `transformers.logging.set_verbosity(level)` in `Trainer.__init__`, and its
library logger writes to stderr, so `log_level="info"` shows the "***** Running training *****"
banner. Here the same level goes to each of our library loggers. A stderr handler is added only
when logging is not configured at all (no handler on the root logger nor on the library logger):
an application's own logging set-up, and pytest's capture, keep receiving the records.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LIBRARY_LOGGERS", "apply_log_level", "set_verbosity"]

LIBRARY_LOGGERS = ("trainer", "trainer_args", "trainer_dist", "trainer_loop", "trainer_seq2seq")
_HANDLER_MARK = "_trainer_default_handler"


def _ensure_handler(logger: logging.Logger) -> None:
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)


def set_verbosity(level: int) -> None:
    """Set every library logger to `level` (a `logging` level)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        _ensure_handler(logger)


def apply_log_level(args: object) -> None:
    """`log_level` (or `log_level_replica` on other processes), as transformers' Trainer does.

    "passive" keeps the level the script gave the libraries: when it set one (on our `trainer`
    logger, or on transformers' as transformers' example scripts do), every library logger
    follows it; otherwise logging is left as it is.
    """
    name = args.log_level if args.should_log else args.log_level_replica  # type: ignore[attr-defined]
    if str(getattr(name, "value", name)) == "passive":
        from trainer_args.runtime import script_verbosity

        level = script_verbosity()
        if level is not None:
            set_verbosity(level)
        return
    set_verbosity(args.get_process_log_level())  # type: ignore[attr-defined]
