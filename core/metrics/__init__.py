"""Metrics read from what runs print: one reader per library family, no SDK (see parser)."""
