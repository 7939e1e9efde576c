"""Terraform synthesis: the cdktf boundary (cdk.py) and our typed resource layer."""
