"""Small helpers shared by every command (paths, output plans); no image science here."""
