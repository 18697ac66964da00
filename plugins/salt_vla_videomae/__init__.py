"""salt-vla plugin: videomae (under construction)."""
