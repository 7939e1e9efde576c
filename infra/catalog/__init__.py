"""Data the planner and constructs read: GPU shapes (and, with the planner, models)."""
