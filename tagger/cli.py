"""The ``tagger`` command: ``tagger score | data-stats | predict | push | errors | report | summarize``.

Each subcommand lives in ``tagger/commands/<name>.py`` and exposes ``add_parser(subparsers)``
(which registers its arguments and sets ``func``) so the subcommands stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tagger.errors import TaggerError

SUBCOMMANDS = ("score", "data_stats", "predict", "push", "errors", "report", "export", "summarize")

logger = logging.getLogger("tagger")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagger", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"tagger.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except TaggerError as err:
        if args.debug:
            raise
        sys.stderr.write(f"tagger {args.command}: error: {err}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
