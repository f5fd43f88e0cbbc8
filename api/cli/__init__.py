"""The `billplane` command line: one module per subcommand."""
