"""Identity: API tokens, principals and the `pao tokens` command."""
