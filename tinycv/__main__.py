"""``python -m tinycv`` is the ``tinycv`` command."""

from tinycv.cli import main

main(prog_name="tinycv")
