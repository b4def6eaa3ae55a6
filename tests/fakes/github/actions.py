"""Moved to ``rehearsal.sim.github_actions``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.github_actions import (
    DEFAULT_STEPS as DEFAULT_STEPS,
)
from rehearsal.sim.github_actions import (
    DOCS as DOCS,
)
from rehearsal.sim.github_actions import (
    HEAD_SHA as HEAD_SHA,
)
from rehearsal.sim.github_actions import (
    INPUT as INPUT,
)
from rehearsal.sim.github_actions import (
    REPO as REPO,
)
from rehearsal.sim.github_actions import (
    RUN as RUN,
)
from rehearsal.sim.github_actions import (
    WORKFLOW as WORKFLOW,
)
from rehearsal.sim.github_actions import (
    ActionsArea as ActionsArea,
)
from rehearsal.sim.github_actions import (
    Dispatch as Dispatch,
)
from rehearsal.sim.github_actions import (
    FakeRun as FakeRun,
)
from rehearsal.sim.github_actions import (
    FakeWorkflow as FakeWorkflow,
)
from rehearsal.sim.github_actions import (
    error as error,
)
from rehearsal.sim.github_actions import (
    timestamp as timestamp,
)
