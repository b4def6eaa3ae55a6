"""GitHub face of PAO: webhooks, request files, issue forms, slash commands."""
