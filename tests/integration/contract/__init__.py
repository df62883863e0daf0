"""The executor contract: one test body per case, run against every target kind."""
