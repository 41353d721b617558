"""The field trial (make field): see field/run.py."""
