"""Moved to ``rehearsal.samples`` so that bench/ uses them without importing tests/; the tests
keep importing them from here."""

from rehearsal.samples import FIELDS as FIELDS
from rehearsal.samples import ITEM as ITEM
