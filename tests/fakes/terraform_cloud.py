"""Moved to ``rehearsal.sim.terraform_cloud``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.terraform_cloud import (
    CANCELABLE as CANCELABLE,
)
from rehearsal.sim.terraform_cloud import (
    CREATED_AT as CREATED_AT,
)
from rehearsal.sim.terraform_cloud import (
    DECISIONS as DECISIONS,
)
from rehearsal.sim.terraform_cloud import (
    DEFAULT_SCRIPT as DEFAULT_SCRIPT,
)
from rehearsal.sim.terraform_cloud import (
    DISCARDABLE as DISCARDABLE,
)
from rehearsal.sim.terraform_cloud import (
    FINAL as FINAL,
)
from rehearsal.sim.terraform_cloud import (
    GATES as GATES,
)
from rehearsal.sim.terraform_cloud import (
    JSON_API as JSON_API,
)
from rehearsal.sim.terraform_cloud import (
    PLAN_CHECKS as PLAN_CHECKS,
)
from rehearsal.sim.terraform_cloud import (
    FakeRun as FakeRun,
)
from rehearsal.sim.terraform_cloud import (
    FakeTerraformCloud as FakeTerraformCloud,
)
from rehearsal.sim.terraform_cloud import (
    FakeWorkspace as FakeWorkspace,
)
from rehearsal.sim.terraform_cloud import (
    serve_terraform_cloud as serve_terraform_cloud,
)
