"""The template language's static side: its scopes, functions and filters, and the scanner that
says which variables a template references.

It sits apart from ``templating`` (which renders, and reads catalog items) because catalog
validation needs it too: with it here, ``catalog`` imports nothing of ``templating`` and the
dependency runs one way, ``templating`` -> ``catalog``. It imports nothing of either.
"""
