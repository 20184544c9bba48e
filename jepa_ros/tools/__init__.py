"""Command-line jobs behind `jepa-ros` (one module per subcommand)."""
