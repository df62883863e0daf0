"""The headless run-list model: rows, columns, order, filter, store watch, run diffs."""
