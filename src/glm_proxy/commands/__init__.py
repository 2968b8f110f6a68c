"""Subcommands of ``glm-proxy``: each module has ``configure(parser)`` and ``run(args) -> int``."""
