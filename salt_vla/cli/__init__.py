"""The ``salt-vla`` command line: core subcommands plus those plugins add via ``register_commands``."""

from __future__ import annotations

import warnings

import click

from salt_vla import __version__
from salt_vla.cli.compare_cmd import compare_command
from salt_vla.cli.errors import DEBUG_ENV, ErrorReportingGroup
from salt_vla.cli.hub_cmd import probe_command, pull_command, push_command, quickstart_command
from salt_vla.cli.plugins_cmd import plugins_command
from salt_vla.cli.select_cmd import select_command
from salt_vla.cli.train_cmd import cache_command, train_command, train_teacher_command
from salt_vla.plugins import PluginLoadWarning, plugin_manager, plugin_statuses, selection_problem


@click.group(cls=ErrorReportingGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="salt-vla")
@click.option("--debug", is_flag=True, help=f"Show the full traceback of an error (or set {DEBUG_ENV}=1).")
def cli(debug: bool) -> None:
    """SALT video pretraining and robot-policy evaluation.

    Plugins add subcommands; `salt-vla plugins` lists what is installed. Errors print as one `Error:`
    block; exit code 2 means bad input (config, arguments, files), 1 a failure of the work itself.
    """


for command in (quickstart_command, plugins_command, train_command, train_teacher_command, cache_command, probe_command,
                push_command, pull_command, compare_command, select_command):
    cli.add_command(command)


def _add_plugin_commands(group: click.Group) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)  # `salt-vla plugins` shows failures in full
        manager = plugin_manager()
        plugin_statuses()
    problem = selection_problem()
    if problem:  # a misspelt name would otherwise surface only as "No such command"
        click.echo(f"warning: {problem}", err=True)
    for impl in manager.hook.register_commands.get_hookimpls():
        try:
            impl.function(**{arg: group for arg in impl.argnames})
        except Exception as exc:
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add its commands: {exc}", err=True)


def main() -> None:
    """Entry point of the ``salt-vla`` console script."""
    _add_plugin_commands(cli)
    cli()
