"""salt-vla plugin: whiskers (under construction)."""
