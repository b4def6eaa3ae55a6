"""Identity: API tokens, principals, access facts and the audit trail.

A low-level package: the ``pao tokens`` and ``pao maintenance`` commands, which sit above the
access rules and the engine, live in ``orchestrator.tokens_cli`` and
``orchestrator.maintenance_cli``.
"""
