"""Moved to ``rehearsal.sim.rest_target``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.http import (
    Receive as Receive,
)
from rehearsal.sim.http import (
    Recorded as Recorded,
)
from rehearsal.sim.http import (
    Scope as Scope,
)
from rehearsal.sim.http import (
    Send as Send,
)
from rehearsal.sim.rest_target import (
    RestTarget as RestTarget,
)
from rehearsal.sim.rest_target import (
    Scripted as Scripted,
)
from rehearsal.sim.rest_target import (
    serve_rest_target as serve_rest_target,
)
