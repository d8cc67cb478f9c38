"""Helpers shared by the test packages: fakes, lab kits, case-text builders."""
