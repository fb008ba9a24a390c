"""The ``tagger`` command: score, data-stats, predict, push, error-analysis, report, export, summarize, compare.

Each subcommand lives in ``tagger/commands/<name>.py`` and exposes ``add_parser(subparsers)``
(which registers its arguments and sets ``func``) so the subcommands stay independent.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from tagger.console import launch_logging
from tagger.errors import TaggerError

#: the console lines of `tagger` commands (a launch of the recipe adds the time and the logger)
CLI_FORMAT = "%(levelname)s: %(message)s"
SUBCOMMANDS = ("score", "data_stats", "predict", "push", "error_analysis", "report", "export", "summarize", "compare")

logger = logging.getLogger("tagger")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagger", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"tagger.commands.{name}")
        module.add_parser(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the command stands so that every ``with`` block cleans up (temporary files)."""

    exit_code = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the block runs.

    Python's default for SIGTERM ends the process at once, leaving an output's hidden temporary
    file behind; as an exception it unwinds like Ctrl-C does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cannot_read(err: OSError) -> str:
    """One line for an input that cannot be read (a folder given for a file, no permission)."""
    reason = "it is a folder, not a file" if isinstance(err, IsADirectoryError) else "permission denied"
    return f"cannot read {err.filename}: {reason}" if err.filename else f"cannot read the input: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_unwinds(), launch_logging("debug" if args.debug else "info", fmt=CLI_FORMAT,
                                                 quiet_transformers=False):
            return int(args.func(args) or 0)
    except TaggerError as err:
        if args.debug:
            raise
        sys.stderr.write(f"tagger {args.command}: error: {err}\n")
        return err.exit_code
    except (IsADirectoryError, PermissionError) as err:  # outputs fail as OutputError: these are inputs
        if args.debug:
            raise
        sys.stderr.write(f"tagger {args.command}: error: {_cannot_read(err)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Terminated:
        sys.stderr.write(f"tagger {args.command}: terminated (SIGTERM)\n")
        return Terminated.exit_code


if __name__ == "__main__":
    sys.exit(main())
