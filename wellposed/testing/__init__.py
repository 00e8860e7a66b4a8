"""Helpers for users' test suites: the public Hypothesis strategies."""
