"""Moved to ``rehearsal.sim.http``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.http import (
    Handler as Handler,
)
from rehearsal.sim.http import (
    HttpFake as HttpFake,
)
from rehearsal.sim.http import (
    Receive as Receive,
)
from rehearsal.sim.http import (
    Recorded as Recorded,
)
from rehearsal.sim.http import (
    Reply as Reply,
)
from rehearsal.sim.http import (
    Scope as Scope,
)
from rehearsal.sim.http import (
    Send as Send,
)
