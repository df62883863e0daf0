"""The ssh target against real OpenSSH boxes on loopback (tests/daemons/sshd.py)."""
