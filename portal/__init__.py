"""The self-service portal: server-rendered pages (Jinja, htmx) on the API's Litestar app.

A face like ``api`` and ``bot``: it calls the core's services and the API's permission checks,
and holds no logic of its own beyond turning forms into requests and answers into pages.
"""
