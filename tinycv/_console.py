"""The rich consoles every part of tinycv writes to: no bare prints."""

from rich.console import Console

console = Console()
stderr_console = Console(stderr=True)
