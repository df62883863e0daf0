"""The docker target against a real dockerd of its own (tests/daemons/dockerd.py)."""
