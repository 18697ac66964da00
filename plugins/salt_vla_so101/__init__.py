"""salt-vla plugin: so101 (under construction)."""
