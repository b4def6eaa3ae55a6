"""Approval gates: a person says yes before anything is provisioned (issue 21).

Modules, from the bottom up (none imported here, so ``orchestrator.catalog.models`` can use
``stages`` without pulling in the rest):

* ``stages``: the catalog contract, ``approvals`` on an item (typed model);
* ``catalog_checks``: located validation of that contract, called by the catalog validator;
* ``conditions``: a stage's ``when`` evaluated with the catalog's template engine;
* ``policy``: pure evaluation: applicable stages, the current one, who may decide, outcome;
* ``preview``: "who must approve", as JSON-ready data and as markdown;
* ``store``: decisions and approval rounds in PostgreSQL (named queries in ``approvals.sql``).

The core decides with a principal's teams given as input, so the API (token or IAM teams) and
the bot (GitHub team membership) apply one rule.
"""
