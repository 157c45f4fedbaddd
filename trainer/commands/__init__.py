"""The commands of ``python -m trainer``: one module per command.

Each module has ``NAME`` (the subcommand), ``HELP`` (its line in ``--help``), ``DESCRIPTION``
(its own ``--help``), ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
:mod:`trainer.cli` registers them from :data:`trainer.cli.COMMANDS`, one line per command.
"""
