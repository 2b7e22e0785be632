"""cdpkit: conformance suites and a stateful mock for five CDP HTTP APIs."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``cdpkit.__version__``, looked up on first use: importlib.metadata and the metadata read cost ~20 ms,
    which every `cdpkit` command (the mock's start-up above all, issue 9) would pay on import otherwise."""
    if name != "__version__":
        raise AttributeError(f"module 'cdpkit' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("cdpkit")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+source"
    globals()["__version__"] = found
    return found
