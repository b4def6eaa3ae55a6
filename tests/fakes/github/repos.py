"""Moved to ``rehearsal.sim.github_repos`` so that bench/ uses it without importing tests/;
the tests keep importing it from here."""

from rehearsal.sim.github_repos import REPO as REPO
from rehearsal.sim.github_repos import FakeCommit as FakeCommit
from rehearsal.sim.github_repos import FakeRepo as FakeRepo
from rehearsal.sim.github_repos import RepoArea as RepoArea
from rehearsal.sim.github_repos import git_sha as git_sha
