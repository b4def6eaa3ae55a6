"""Moved to ``rehearsal.sim.github_conversations`` so that bench/ uses it without importing
tests/; the tests keep importing it from here."""

from rehearsal.sim.github_conversations import COMMENT_LIMIT as COMMENT_LIMIT
from rehearsal.sim.github_conversations import ConversationArea as ConversationArea
from rehearsal.sim.github_conversations import FakeCheckRun as FakeCheckRun
from rehearsal.sim.github_conversations import FakeComment as FakeComment
from rehearsal.sim.github_conversations import FakeIssue as FakeIssue
from rehearsal.sim.github_conversations import FakePull as FakePull
from rehearsal.sim.github_conversations import FakeReview as FakeReview
