"""Loads the suites plugin when pytest collects this folder by path (``pytest cdpkit/suites/test_gptbots.py
--cdp-target URL …`` in a checkout; ``cdpkit check`` passes ``-p cdpkit.suites.plugin`` and ``--noconftest``).

The plugin has no ``pytest11`` entry point, so it loads only where asked. ``pytest --pyargs cdpkit.suites``
does not find this file before parsing the command line, so that command is served by the ``cdp_mock``
plugin instead (:func:`cdpkit.mockserver.pytest_plugin.asks_for_suites`). pytest registers a plugin module
once under its name, so naming it here as well is harmless.
"""

pytest_plugins = ["cdpkit.suites.plugin"]
