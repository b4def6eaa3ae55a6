"""A stateful fake of GitHub's REST API, served over loopback for githubkit to talk to.

``FakeGitHub`` is the core (authentication, rate-limit headers and budgets, recording); each
area of the API is a module of this package that registers its routes and keeps its state
(``repos``: contents, trees, blobs, commits, statuses, check runs; ``actions``: workflow
dispatch and runs; ``conversations``: issues, pull requests, comments, reactions, labels,
teams). Tests build the areas they need:

    gh = FakeGitHub()
    git = RepoArea(gh)
    with gh.serve() as base_url:
        client = GitHub(TokenAuthStrategy(TOKEN), base_url=base_url)
"""

from tests.fakes.github.core import FakeGitHub

__all__ = ["FakeGitHub"]
