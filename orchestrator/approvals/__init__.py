"""Approval gates: a person says yes before anything is provisioned (issue 21).

The runtime of the gates. Their catalog contract (``approvals`` on an item, the typed model
``orchestrator.catalog.approval_stages``) and its located checks
(``orchestrator.catalog.approval_checks``) belong to the catalog: this package depends on the
catalog, never the reverse. Modules, from the bottom up:

* ``conditions``: a stage's ``when`` evaluated with the catalog's template engine;
* ``policy``: pure evaluation: applicable stages, the current one, who may decide, outcome;
* ``preview``: "who must approve", as JSON-ready data and as markdown;
* ``store``: decisions and approval rounds in PostgreSQL (named queries in ``approvals.sql``);
* ``service`` and ``lifecycle``: decisions recorded, and the request moved through the
  engine's transitions (``orchestrator.engine.transitions``).

The core decides with a principal's teams given as input, so the API (token or IAM teams) and
the bot (GitHub team membership) apply one rule.
"""
