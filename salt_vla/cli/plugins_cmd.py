"""``salt-vla plugins``: what every installed plugin registered, and which ones failed."""

from __future__ import annotations

import json

import click

from salt_vla.extras import describe_missing
from salt_vla.plugins import plugin_statuses, registry
from salt_vla.registry import KINDS


def plugin_rows(kind: str | None = None) -> list[dict[str, str]]:
    """One row per registered entry (kind, name, provider, package, status, description, needs), then one per
    failed plugin. ``needs`` lists the provider's missing optional modules with their install lines."""
    statuses = {s.name: s for s in plugin_statuses()}
    reg = registry()
    rows = []
    for entry in reg.entries(kind):
        status = statuses.get(entry.provider)
        clash = [e.provider for e in reg.conflict(entry.kind, entry.name) if e.provider != entry.provider]
        needs = describe_missing(status.missing) if status is not None and status.missing else ""
        state = f"conflict: also registered by {', '.join(clash)}" if clash else f"needs {needs}" if needs else "ok"
        if status is not None and status.warnings:
            state += " (" + "; ".join(status.warnings) + ")"
        rows.append({"kind": entry.kind, "name": entry.name, "provider": entry.provider,
                     "package": entry.package, "status": state, "description": entry.description, "needs": needs})
    if kind is None:
        for status in statuses.values():
            if not status.ok:
                rows.append({"kind": "-", "name": "-", "provider": status.name, "package": status.package,
                             "status": f"failed: {status.error}", "description": "", "needs": ""})
    return rows


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


@click.command("plugins")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(kind: str | None, as_json: bool) -> None:
    """List registered teachers, maskers, policies, ... with the plugin that provides each."""
    rows = plugin_rows(kind)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"Nothing registered{f' of kind {kind}' if kind else ''}.")
        return
    click.echo(format_table(rows, ["kind", "name", "provider", "package", "status"]))
