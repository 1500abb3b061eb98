"""The subcommands. Each module has ``register(subparsers)``, which sets ``run`` on its parser."""
