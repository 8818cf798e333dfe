"""Helpers shared by the test folders, imported as `support.<module>` (pytest puts `tests/` on
the path): fakes, constants and checks. Fixtures live in the conftest files instead."""
