"""salt-vla plugin: lerobot (under construction)."""
