"""Adapters over the few private pieces of a dependency that the project cannot do without.

One module per dependency, each naming the versions it was checked against; a unit test per
module asserts the installed version and the private pieces' shape, so an upgrade that moves
them fails loudly in the suite instead of quietly at run time. Everything else in the project
uses dependencies through their public API only.
"""
