"""cdpkit: conformance suites and a stateful mock for five CDP HTTP APIs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cdpkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
