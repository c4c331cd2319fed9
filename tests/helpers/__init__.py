"""Helpers shared by several test folders, imported as `tests.helpers.<module>` (pyproject's `pythonpath` puts the
repository root on sys.path; the test folders themselves are not packages under --import-mode=importlib)."""
