"""The pytest plugin behind ``pytest --pyargs cdpkit.suites --cdp-target URL --cdp-vendor V`` and ``cdpkit check``.

It adds the ``--cdp-*`` options, resolves the target once (a target that does not accept connections
is a usage error; credentials from ``--cdp-cred``, and on a cdpkit mock the keys not given from its
``GET /__mock/credentials``), gives checks the ``cdp`` fixture,
deselects checks of other vendors, skips assumption checks unless ``--cdp-strict``, names every
check's node after its requirement ID (``test_x[GPT-AUTH-BEARER]``) and collects the results for the
summary table and report.

It loads only where asked, never into every pytest run of an environment (there is no ``pytest11``
entry point for it): ``cdpkit check`` passes ``-p cdpkit.suites.plugin``; ``pytest -p cdpkit.suites.plugin`` loads it;
a pytest command line with a ``--cdp-*`` option or ``--pyargs cdpkit.suites`` gets it from the ``cdp_mock``
plugin (:func:`cdpkit.mockserver.pytest_plugin.asks_for_suites`), and ``pytest cdpkit/suites/…`` in a checkout from
``cdpkit/suites/conftest.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Iterator

import pytest

from cdpkit.schemas import VENDORS
from cdpkit.schemas.tiers import TIER_LABELS, features, select_features
from cdpkit.suites.registry import (MARK_ASSUMPTION, MARK_FEATURES, MARK_FUZZ, MARK_MOCK_ONLY, MARK_REQUIREMENT, MARK_TIER,
                             MARK_VENDOR)
from cdpkit.suites.report import Results
from cdpkit.suites.target import (Target, fill_from_mock, find_mock, load_profile, mock_credentials, parse_cred, unreachable,
                           url_problem)

TARGET_KEY = pytest.StashKey[Target]()
DEFAULT_MAX_EXAMPLES = 20
DEFAULT_SEED = 0


CHECK_EXTRA = ("schemathesis", "hypothesis")  # pyproject.toml's `check` extra: the property-based run


def missing_check_extra() -> list[str]:
    """The packages of the ``check`` extra that are not installed (the base install runs the mock only)."""
    missing = []
    for name in CHECK_EXTRA:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cdpkit", "cdpkit conformance suites")
    group.addoption("--cdp-target", metavar="URL", default=None, help="base URL of the implementation under test")
    group.addoption("--cdp-vendor", choices=VENDORS, default=None, help="which vendor API the target implements")
    group.addoption("--cdp-cred", metavar="KEY=VALUE", action="append", default=[], help="a credential (repeatable)")
    group.addoption("--cdp-strict", action="store_true", default=False, help="also run checks of assumption entries")
    group.addoption("--cdp-features", metavar="LIST", default=None,
                    help="features the target implements: 'a,b' (only these) or '+a,-b' (adjust the defaults)")
    group.addoption("--cdp-fuzz-writes", action="store_true", default=False,
                    help="also send generated valid writes to a target that is not a cdpkit mock (they create records)")
    group.addoption("--cdp-seed", type=int, default=DEFAULT_SEED, help="seed of the schemathesis run")
    group.addoption("--cdp-max-examples", type=int, default=DEFAULT_MAX_EXAMPLES, help="schemathesis examples per operation and mode")
    group.addoption("--cdp-report", metavar="PATH", default=None, help="write a Markdown (.md) or HTML (.html) report")


# trylast: after pytest's own mark plugin has made this run's config the one marks are checked against, since
# resolving the target imports the suite module (its cdp_* marks), maybe inside another pytest run.
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in (
        f"{MARK_REQUIREMENT}(id): the catalog requirement a conformance check proves",
        f"{MARK_VENDOR}(name): the vendor whose suite a check belongs to",
        f"{MARK_ASSUMPTION}: checks an assumption entry; runs only with --cdp-strict",
        f"{MARK_TIER}(tier): documented, modeled (through cdpkit's model) or assumption",
        f"{MARK_FEATURES}(*names): the vendor features a check exercises",
        f"{MARK_MOCK_ONLY}: reads state through a cdpkit mock's control API; skipped elsewhere",
        f"{MARK_FUZZ}: the schemathesis property-based run",
    ):
        config.addinivalue_line("markers", line)
    url = config.getoption("--cdp-target")
    if not url:
        return
    missing = missing_check_extra()
    if missing:
        raise pytest.UsageError(f"the conformance suites need cdpkit's check extra ({', '.join(missing)} missing): "
                                "python3 -m pip install 'cdpkit[check]' (in a checkout: python3 -m pip install -e '.[check]')")
    target = config.stash[TARGET_KEY] = resolve_target(config)
    note = mock_note(target, bool(config.getoption("--cdp-cred")))
    if note:
        sys.stderr.write(note + "\n")
    given = [p for p in config.pluginmanager.get_plugins() if isinstance(p, Results)]
    for results in given:  # `cdpkit check` brings its own collector
        results.target = target
    if not given:
        report = config.getoption("--cdp-report")
        config.pluginmanager.register(Results(target, report_path=report, print_summary=True), "cdp_results")


def resolve_target(config: pytest.Config) -> Target:
    """Build the Target from the options; every problem is a usage error naming what to pass."""
    url: str = config.getoption("--cdp-target")
    vendor = config.getoption("--cdp-vendor")
    if not vendor:
        raise pytest.UsageError("--cdp-target needs --cdp-vendor (one of: " + ", ".join(VENDORS) + ")")
    problem = url_problem(url, "--cdp-target")
    if problem:
        raise pytest.UsageError(problem)
    if config.getoption("--cdp-max-examples") < 1:
        raise pytest.UsageError("--cdp-max-examples must be at least 1")
    try:
        profile = load_profile(vendor)
    except LookupError as exc:
        raise pytest.UsageError(str(exc)) from None
    try:
        given = dict(parse_cred(c) for c in config.getoption("--cdp-cred"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    down = unreachable(url)
    if down:
        raise pytest.UsageError(down)
    # A cdpkit mock is recognised whether or not credentials are given: the keys not given come from
    # its /__mock/credentials, and checks may seed fixtures through its control API.
    control, refused = find_mock(url, vendor)
    mock_unused = None
    if refused:
        mock_unused = f"set CDPKIT_ADMIN_TOKEN to its --admin-token (its control API refused cdpkit: {refused})"
    creds, filled = dict(given), []
    if control is not None:
        own = mock_credentials(control, vendor)
        differ = [k.name for k in profile.keys if k.required and k.name in given and given[k.name] != own.get(k.name)]
        if differ:
            # Other credentials than the mock's own: the mock's other keys (its users, its second tenant) do
            # not belong with them, and its fixtures are seeded for its own; say so rather than mix them.
            listed = ", ".join(f"--cred {name}" for name in differ)
            mock_unused = (f"cdpkit uses it with the mock's own credentials only, and {listed} differ{'s' * (len(differ) == 1)} "
                           f"from them (GET /__mock/credentials; drop {listed} to use them)")
        else:
            from_mock = fill_from_mock(given, own)
            creds.update(from_mock)
            filled = sorted(from_mock)
    elif not given:
        required = ", ".join(f"--cred {k.name}=…" for k in profile.keys if k.required)
        if refused:
            raise pytest.UsageError(f"{url} is a cdpkit mock, but its control API refused to give its credentials "
                                    f"({refused}): set CDPKIT_ADMIN_TOKEN to its --admin-token, or give {required}")
        raise pytest.UsageError(f"{url} answers but is not a cdpkit mock, so its credentials cannot be read from it: "
                                f"give them ({required})")
    problems = profile.check_creds(creds)
    if problems:
        if given and filled:
            source = f"--cred and the mock's /__mock/credentials (for {', '.join(filled)})"
        else:
            source = "--cred" if given else "the mock's /__mock/credentials"
        raise pytest.UsageError(f"credentials from {source}: " + "; ".join(problems))
    try:
        chosen = select_features(vendor, config.getoption("--cdp-features"), on_mock=control is not None or bool(refused))
    except ValueError as exc:
        raise pytest.UsageError(f"--features: {exc}") from None
    target = Target(url, profile, creds, strict=config.getoption("--cdp-strict"), control=None if mock_unused else control,
                    features=chosen, mock_unused=mock_unused)
    target.filled_from_mock = tuple(filled) if given else ()
    return target


def mock_note(target: Target, given: bool) -> str:
    """One line for stderr on how the credentials of a cdpkit mock were used, or ""."""
    if target.filled_from_mock:
        return f"cdpkit: credentials not given with --cred, read from the mock's /__mock/credentials: {', '.join(target.filled_from_mock)}"
    if target.mock_unused and given:
        return f"cdpkit: the target is a cdpkit mock, but cdpkit will not use its control API: {target.mock_unused}"
    return ""


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [m.args[0] for m in item.iter_markers(MARK_REQUIREMENT)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Name each check's node after its requirement ID, so the JUnit test name carries it."""
    ids = [m.args[0] for m in metafunc.definition.iter_markers(MARK_REQUIREMENT)]
    if ids and "cdp_requirement_id" in metafunc.fixturenames:
        label = "+".join(reversed(ids))
        metafunc.parametrize("cdp_requirement_id", [label], ids=[label])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [i for i in items if i.get_closest_marker(MARK_VENDOR) or i.get_closest_marker(MARK_FUZZ)]
    if not ours:
        return
    target = config.stash.get(TARGET_KEY, None)
    if target is None:
        raise pytest.UsageError("the cdpkit suites need --cdp-target URL and --cdp-vendor V (or run `cdpkit check`)")
    keep, drop = [], []
    for item in items:
        vendor_mark = item.get_closest_marker(MARK_VENDOR)
        if vendor_mark is not None and vendor_mark.args[0] != target.vendor:
            drop.append(item)
            continue
        keep.append(item)
        for rid in _requirement_ids(item):
            item.user_properties.append(("requirement", rid))
        reason = skip_reason(item, target)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def item_tier(item: pytest.Item) -> str:
    mark = item.get_closest_marker(MARK_TIER)
    return mark.args[0] if mark else "documented"


def item_features(item: pytest.Item) -> tuple[str, ...]:
    mark = item.get_closest_marker(MARK_FEATURES)
    return tuple(mark.args) if mark else ()


def skip_reason(item: pytest.Item, target: Target) -> str | None:
    """Why a check does not run against this target, or None; every reason names what would run it."""
    item.user_properties.append(("tier", TIER_LABELS[item_tier(item)]))
    feats = item_features(item)
    if feats:
        item.user_properties.append(("features", ",".join(feats)))
    off = [f for f in feats if f not in target.features]
    if off:
        return f"feature not checked: {', '.join(off)} (the target does not implement it; --features +{off[0]} to check it)"
    if item.get_closest_marker(MARK_ASSUMPTION) and not target.strict:
        return "checks an assumption (the documents leave this open): runs only with --strict"
    if item.get_closest_marker(MARK_MOCK_ONLY) and not target.is_mock:
        if target.mock_unused:
            return (f"checked through this cdpkit mock's control API only (no documented call reads it back): "
                    f"{target.mock_unused}")
        return ("not observable through the documented API (no call reads it back): checked on a cdpkit mock "
                "through its control API only, never counted as coverage of another target")
    return None


def features_not_checked(target: Target) -> list[str]:
    """The vendor's features the run leaves out, each with its title, for the summary and the report."""
    return [f"{f.name} ({f.title})" for f in features(target.vendor) if f.name not in target.features]


@pytest.fixture
def cdp_requirement_id() -> str | None:
    """The requirement ID of the running check (parametrized per check; None for the fuzz run)."""
    return None


@pytest.fixture(scope="session")
def cdp_target(pytestconfig: pytest.Config) -> Target:
    target = pytestconfig.stash.get(TARGET_KEY, None)
    if target is None:
        raise pytest.UsageError("the cdpkit suites need --cdp-target URL and --cdp-vendor V")
    return target


@pytest.fixture
def cdp(cdp_target: Target, cdp_requirement_id: str | None) -> Iterator[Target]:
    """The target under test, bound to the running check's requirement for failure messages."""
    cdp_target.requirement_id = cdp_requirement_id.split("+")[-1] if cdp_requirement_id else None
    cdp_target.exchanges = []
    yield cdp_target
    cdp_target.requirement_id = None
