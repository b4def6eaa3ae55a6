"""Moved to ``rehearsal.sim.github``: the simulators are product code (`pao serve`'s rehearsal, `pao rehearse`);
the tests keep importing them from here."""

from rehearsal.sim.github import (
    FakeGitHub as FakeGitHub,
)
from rehearsal.sim.github import (
    etag_of as etag_of,
)
