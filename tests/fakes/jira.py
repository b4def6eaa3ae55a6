"""Moved to ``rehearsal.sim.jira``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.jira import (
    API as API,
)
from rehearsal.sim.jira import (
    BUILT_IN_FIELDS as BUILT_IN_FIELDS,
)
from rehearsal.sim.jira import (
    CATEGORIES as CATEGORIES,
)
from rehearsal.sim.jira import (
    CREATED_AT as CREATED_AT,
)
from rehearsal.sim.jira import (
    KEY as KEY,
)
from rehearsal.sim.jira import (
    PRIORITIES as PRIORITIES,
)
from rehearsal.sim.jira import (
    RESOLUTIONS as RESOLUTIONS,
)
from rehearsal.sim.jira import (
    WORKFLOW as WORKFLOW,
)
from rehearsal.sim.jira import (
    FakeIssue as FakeIssue,
)
from rehearsal.sim.jira import (
    FakeJira as FakeJira,
)
from rehearsal.sim.jira import (
    FakeProject as FakeProject,
)
