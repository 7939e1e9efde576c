"""Day-2 operations on a deployed stack: inventory, SSH transport, exec, logs, wait, status."""
