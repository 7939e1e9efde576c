"""Boot gpuform nodes for real: cloud-init under systemd in a container, one per node role.

`python -m tests.boot STACK [NODE]` boots one stack by hand; tests/test_boot.py boots them all.
"""
