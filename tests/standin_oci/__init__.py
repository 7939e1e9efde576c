"""A stand-in for the oracle/oci Terraform provider, served from its real schema.

See docs/terraform-e2e.md for what it checks and what only a real tenancy can.
"""
