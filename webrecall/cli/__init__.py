"""The `webrecall` command line (typer + rich)."""
