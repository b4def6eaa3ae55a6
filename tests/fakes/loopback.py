"""Moved to ``rehearsal.sim.loopback``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.loopback import (
    serve_asgi as serve_asgi,
)
