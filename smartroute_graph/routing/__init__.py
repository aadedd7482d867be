"""Routing: how evidence about a query becomes a model choice.

The learned layer lives here: :mod:`.outcomes` (observations and the outcome store, SQLite or
PostgreSQL), :mod:`.memory` (the store's outcomes in memory, with a nearest-neighbour index)
and :mod:`.learned` (each model's predicted quality for a query, blended with the prior, and the
operating point that turns predictions into a choice).
"""
