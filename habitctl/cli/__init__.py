"""The command-line face: Typer commands that parse, call one service, and render."""
