"""Fixtures for the ops tests: real sshd daemons in private network namespaces."""
