"""How the command line reports errors: one ``Error:`` block, not a traceback.

The library raises exceptions whose messages name the value, what was expected and the fix. A traceback
buries that message under frames the user did not write, so every command runs inside
:class:`ErrorReportingGroup`: an expected error is printed as ``Error: <message>`` plus a hint, and the
process exits with :data:`EXIT_BAD_INPUT` (2: a configuration, argument, file or plugin the user gave is
wrong) or :data:`EXIT_FAILURE` (1: the work itself failed: non-finite loss, corrupt cache, disk full, ...).
``salt-vla --debug ...`` or ``SALT_VLA_DEBUG=1`` shows the traceback instead. Anything else (a bug) keeps
its traceback.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import click

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
DEBUG_ENV = "SALT_VLA_DEBUG"


def debug_enabled(flag: bool = False) -> bool:
    """``--debug`` was given, or ``SALT_VLA_DEBUG`` is set to something other than ``0``/``false``/empty."""
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def exit_code(error: BaseException) -> int | None:
    """:data:`EXIT_BAD_INPUT` or :data:`EXIT_FAILURE` for an error the library raises on purpose; ``None`` otherwise."""
    from salt_vla.registry import PluginError

    if isinstance(error, (ValueError, PluginError, FileNotFoundError, FileExistsError, NotADirectoryError,
                          IsADirectoryError)):
        return EXIT_BAD_INPUT
    if isinstance(error, (RuntimeError, OSError, ImportError)):
        return EXIT_FAILURE
    return None


class ReportedError(click.ClickException):
    """An error already turned into its ``Error:`` block (click prints it and exits with ``exit_code``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


def report(error: BaseException, code: int) -> ReportedError:
    """The :class:`ReportedError` for ``error``: its message, its type, and how to see the traceback."""
    message = str(error).strip() or type(error).__name__
    return ReportedError(f"{message}\n({type(error).__name__}; run with --debug or {DEBUG_ENV}=1 for the traceback)",
                         code)


def error_block(error: BaseException) -> ReportedError:
    """``error``, caught by a command on purpose, as its ``Error:`` block with the exit code of its kind.

    A command that catches the library's errors raises this instead of a plain :class:`click.ClickException`
    (which always exits 1): bad input still exits 2 when the command runs outside :class:`ErrorReportingGroup`.
    """
    return report(error, exit_code(error) or EXIT_FAILURE)


class ErrorReportingGroup(click.Group):
    """A click group that prints the library's errors from any subcommand as one ``Error:`` block."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReportedError as error:
            if error.__cause__ is not None and debug_enabled(bool(ctx.params.get("debug"))):
                traceback.print_exception(error.__cause__)
                ctx.exit(error.exit_code)
            raise
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            code = exit_code(error)
            if code is None or debug_enabled(bool(ctx.params.get("debug"))):
                if code is not None:  # debug: the traceback, then the same exit code
                    traceback.print_exc()
                    ctx.exit(code)
                raise
            raise report(error, code) from error
