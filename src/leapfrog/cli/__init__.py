"""The command line. `main` is the console script: no traceback ever reaches the user."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from rich.console import Console

    from leapfrog.spec import SpecError

STARTED = time.monotonic()
"""When the command started, before its heavy imports: what the user waits for."""

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. Run as the console script (no `argv`), the
    process ends here (`_exit_now`) once the command is done."""
    # Pydantic looks for plugins in every installed package's metadata when the first
    # model is defined (tens of ms of a command's start); leapfrog's models have none to
    # report to. Set only when the user did not choose.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__":
        from leapfrog.shared.loading import skip_pydantic_plugin_scan

        skip_pydantic_plugin_scan()  # which would import importlib.metadata all the same
    code = _run(argv)
    if argv is None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown: freeing every module's objects
    one by one takes 40-90 ms after a stack file was loaded, and the user waits for it.
    Output is flushed and atexit handlers run as on a normal exit. Returns (and the
    normal exit follows) while another thread runs, which a normal exit waits for."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    import atexit
    import contextlib

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`status | head`)
            stream.flush()

    atexit._run_exitfuncs()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    from leapfrog.cli.quick import quick_command
    from leapfrog.shared.errors import LeapfrogError

    try:
        try:
            command = quick_command(sys.argv[1:] if argv is None else argv)
            (command or (lambda: _click_main(argv)))()
        except Exception as exc:
            if not _is_spec_error(exc):
                raise
            from leapfrog.spec import render

            render(exc, _err())
            return 2
    except LeapfrogError as exc:
        err = _err()
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        code = _click_exit(exc)
        if code is not None:
            return code
        import traceback

        crash = Path.home() / ".cache" / "leapfrog" / "crash.log"
        try:
            crash.parent.mkdir(parents=True, exist_ok=True)
            crash.write_text(traceback.format_exc())
            where = f"details in {crash}"
        except OSError:
            where = "no crash log could be written"
        kind = sys.exc_info()[0]
        name = kind.__name__ if kind else "error"
        _err().print(f"[bold red]internal error[/] ({name}); {where}. Please report it.")
        return 70
    return 0


def _click_main(argv: list[str] | None) -> None:
    from leapfrog.cli.app import cli

    cli.main(args=argv, prog_name="leapfrog", standalone_mode=False)


def _err() -> Console:
    from leapfrog.cli.options import err

    return err


def _click_exit(exc: Exception) -> int | None:
    """The exit status of click's own ending (usage error, abort, exit), after saying why;
    None for anything else. Looked up only once raised: a command the quick path ran
    (cli/quick.py) may not have loaded click."""
    click = sys.modules.get("click")
    if click is None:
        return None
    if isinstance(exc, click.exceptions.Abort):
        _err().print("aborted")
        return 130
    if isinstance(exc, click.ClickException):
        exc.show()
        code: int = exc.exit_code
        return code
    if isinstance(exc, click.exceptions.Exit):
        exit_code: int = exc.exit_code
        return exit_code
    return None


def _is_spec_error(exc: Exception) -> TypeGuard[SpecError]:
    """A problem of the stack file. Looked up only once raised: the spec (pydantic, the
    models) is not imported by commands that read no stack file, such as --version."""
    errors = sys.modules.get("leapfrog.spec.errors")
    return errors is not None and isinstance(exc, errors.SpecError)


if __name__ == "__main__":
    sys.exit(main())
