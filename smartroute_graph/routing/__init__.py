"""Routing decisions: the settings (one declaration, :class:`RouterContext`), policy tables
and the pure ``decide`` that maps a classification to a model, configuration files."""
