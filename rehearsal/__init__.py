"""Rehearsal: simulators of the systems PAO's actions call (JIRA, Terraform Cloud, GitHub Actions,
REST targets), so a catalog item's whole chain runs on a laptop.

Used by ``pao serve`` on the embedded defaults (``rehearsal.wiring``), by ``pao rehearse``
(``rehearsal.run``) and by the tests (``tests/fakes`` re-exports ``rehearsal.sim``). It imports
the core only; the executors reach the simulators through their ordinary settings.
"""
