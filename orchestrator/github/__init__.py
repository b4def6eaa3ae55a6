"""What the GitHub face keeps in the database, as services: the webhook deliveries it received
(``deliveries``) and the PR and issue threads linked to requests (``links``).

The bot (``bot/``) calls these; it runs no SQL and opens no connection itself.
"""
