"""Pytest conformance suites that judge any implementation by URL (built in a later step)."""
