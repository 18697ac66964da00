"""``python -m salt_vla`` runs the ``salt-vla`` command line."""

from salt_vla.cli import main

main()
