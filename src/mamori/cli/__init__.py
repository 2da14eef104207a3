"""The ``mamori`` command line (Typer + Rich). Commands parse, call one library function, render."""
