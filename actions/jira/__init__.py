"""The ``jira-ticket`` action type's executor, in modules with one job each: ``settings``
(``JIRA_INSTANCES`` and friends), ``auth`` (credentials and OAuth tokens), ``client`` (the
``jira`` library and the retry policy), ``search`` (find-or-create's search) and ``executor``.
What the core knows of the type (config schema, outputs, checks) is ``actions.specs.jira_ticket``.
"""
