"""An example third-party PAO action type, ``example-note``: it records a note and completes.

What PAO needs to know before anything runs is ``spec.SPEC`` (entry point ``pao.action_types``);
what runs it is ``executor.registry`` (entry point ``pao.executors``).
"""
