"""Routing: how evidence about a query becomes a model choice.

The settings (one declaration, :class:`~.context.RouterContext`), the policy tables and the
pure :func:`~.decide.decide` that maps a classification to a model, configuration files; and
the learned layer: :mod:`.outcomes` and :mod:`.stores` (observations and the outcome store,
SQLite or PostgreSQL), :mod:`.memory` and :mod:`.index` (the store's outcomes in memory, with a
nearest-neighbour index), :mod:`.learned` and :mod:`.operating` (each model's predicted quality
for a query, blended with the prior, and the operating point that turns predictions into a
choice).
"""
