"""The template language's static side: its scopes, functions and filters, the scanner that
says which variables a template references, and the grammar (``translate``: a template to its
Jinja source and expression trees, with its syntax errors in ``errors``).

It sits apart from ``templating`` (which renders, and reads catalog items) because catalog
validation needs it too (an approval stage's ``when`` is checked against the grammar): with it
here, ``catalog`` imports nothing of ``templating`` and the dependency runs one way,
``templating`` -> ``catalog``. It imports nothing of either.
"""
