"""Loads the suites plugin for ``pytest --pyargs suites`` until it is registered as a ``pytest11``
entry point (``cdp_suites = "suites.plugin"``); once it is, the entry point loads it and this file
must not register its hooks a second time.
"""

from __future__ import annotations

from suites.plugin import registered_by_entry_point

if not registered_by_entry_point():
    from suites.plugin import (  # noqa: F401  (hooks and fixtures, picked up by pytest from this module)
        cdp,
        cdp_requirement_id,
        cdp_target,
        pytest_addoption,
        pytest_collection_modifyitems,
        pytest_configure,
        pytest_generate_tests,
    )
