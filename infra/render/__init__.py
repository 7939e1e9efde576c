"""Rendering: Jinja2 (StrictUndefined) turns specs into the cloud-config each node boots with."""
