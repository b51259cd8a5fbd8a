"""The ``calib`` command line (SPEC section 4).

Every command that computes something takes ``--json`` and then prints exactly one JSON
object on stdout (progress and warnings go to stderr). Errors print one line on stderr
and exit 1 (a traceback only with ``--debug``); bad usage exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback
import warnings
from importlib import import_module

from calib import __version__
from calib.cli.common import Parser, add_command
from calib.errors import CalibError

# Command modules, in the order `calib --help` lists them.
MODULES = ("calib.cli.core", "calib.cli.modeling", "calib.cli.pipeline", "calib.cli.experiments",
           "calib.cli.importing", "calib.cli.distributed", "calib.cli.refine")


def _commands():
    out = {}
    for m in MODULES:
        for cmd in import_module(m).COMMANDS:
            out[cmd.name] = cmd
    return out


COMMANDS = _commands()


def build_parser() -> argparse.ArgumentParser:
    """The ``calib`` parser, with every command of :data:`MODULES`.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> args = build_parser().parse_args(["validate", "calib-demo/data", "--json"])
    >>> args.command, args.data, args.json
    ('validate', 'calib-demo/data', True)
    """
    parser = Parser(
        prog="calib",
        description="Test lead-scoring rules against your own history: replay, sweep, "
                    "compare, fit, calibrate and recommend.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'calib COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"calib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in COMMANDS.values():
        add_command(sub, cmd)
    return parser


def main(argv=None) -> int:
    """Run ``calib`` with the arguments ``argv`` and return the exit status.

    Errors a user can fix print one line on stderr (a traceback with ``--debug``) and
    give 1, as does any other exception (an internal error); bad usage exits 2.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``calib`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on an error, 2 without a command, 130 when interrupted.

    Raises
    ------
    SystemExit
        On bad usage (status 2), ``--help`` and ``--version`` (status 0).

    Examples
    --------
    >>> import contextlib, io
    >>> main(["plan", "--baseline-rate", "0.10", "--mde", "0.02", "--json"])  # doctest: +ELLIPSIS
    {"baseline_rate": 0.1, ...}
    0
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     main(["replay", "calib-demo/data", "--rules", "missing.toml"])
    1
    >>> err.getvalue()
    "calib replay: error: The rule set 'missing.toml' does not exist.\\n"
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    warnings.simplefilter("ignore", category=UserWarning)  # calib reports its own warnings
    try:
        COMMANDS[args.command].run(args)
    except CalibError as e:
        if debug:
            traceback.print_exc()
        print(f"calib {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence for users
        if debug:
            traceback.print_exc()
        msg = textwrap.shorten(f"{type(e).__name__}: {e}", 300)
        print(f"calib {args.command}: internal error: {msg}. Run again with --debug for a "
              f"traceback and report it.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
