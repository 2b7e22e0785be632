"""cdpkit as a citizen of the Python environment it is installed in, and the pins its guarantees rest on.

* A project that never uses cdpkit runs its tests as before: its own ``fuzz`` marker works, its
  ``--help`` has no ``--cdp-*`` option, and cdpkit's pytest entry point costs nothing measurable (it
  imports neither aiohttp nor the mock until a test asks for ``cdp_mock``; the fixture itself is proven
  from a fresh project by ``tests/test_mock_core.py::test_fixture_works_in_a_fresh_project``).
* The wheel installs one top-level package, ``cdpkit`` (with ``py.typed``, the schemas and the dashboard's
  assets): a project's own ``schemas`` or ``suites`` package is never shadowed.
* The suites' plugin loads only where asked, and ``cdpkit check`` leaves no ``.hypothesis/`` behind.
* ``cdpkit gen --seed`` output is byte for byte what ``tests/data/gen_golden.json`` records, and every
  jsonschema-rs error kind ``cdpkit/schemas/validation.py`` reads still exists: an upgrade of Faker or of
  jsonschema-rs that changes either fails here, loudly (pyproject.toml pins both; see its comments).

Regenerate the golden digests (after a deliberate Faker upgrade, saying so in the release notes) with
``python -m tests.test_packaging --regenerate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "gen_golden.json"
README_EXAMPLE = DATA / "gen_zebline_users_count50_seed1.ndjson"

# Seeded `cdpkit gen` runs whose output must not change: the README's example, and one operation per
# vendor in the vendor's own market locale (Faker's zh_CN, th_TH, fa_IR… word lists), valid and invalid.
GEN_RUNS = {
    "readme": ["zebline.users", "--count", "50", "--seed", "1"],
    "tto-market": ["tto.identify", "--count", "20", "--seed", "1", "--locale", "market"],
    "quickaudience-market": ["quickaudience.collect_event", "--count", "20", "--seed", "1", "--locale", "market"],
    "sensors-market": ["sensors.start_realtime_tag", "--count", "20", "--seed", "1", "--locale", "market"],
    "gptbots-market": ["gptbots.get_user_cdp", "--count", "20", "--seed", "1", "--locale", "market"],
    "zebline-market": ["zebline.upsert_user", "--count", "20", "--seed", "1", "--locale", "market"],
    "zebline-invalid": ["zebline.upsert_user", "--invalid", "all", "--count", "20", "--seed", "1"],
}


def gen_output(args: list[str]) -> bytes:
    from cdpkit.cli import main

    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # `cdpkit gen` writes bytes to stdout.buffer
    with contextlib.redirect_stdout(out):
        assert main(["gen", *args]) == 0
    out.flush()
    return raw.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- pytest citizenship --------------------------------------------------------------------------------


def cdpkit_entry_points() -> dict[str, str]:
    dist = importlib.metadata.distribution("cdpkit")
    return {ep.name: ep.value for ep in dist.entry_points if ep.group == "pytest11"}


def test_only_the_lazy_fixture_plugin_loads_into_every_pytest_run() -> None:
    assert cdpkit_entry_points() == {"cdp_mock": "cdpkit.mockserver.pytest_plugin"}, (
        "cdpkit's pytest11 entry points load into every pytest run of the environment: only the lazy "
        "cdp_mock fixture may have one (reinstall with `pip install -e .` after changing pyproject.toml)")


def test_every_marker_of_the_suites_is_prefixed(pytestconfig: pytest.Config) -> None:
    from cdpkit.suites import registry

    names = {v for k, v in vars(registry).items() if k.startswith("MARK_")}
    assert names and all(n.startswith("cdp_") for n in names), sorted(names)
    ours = {line.split(":")[0].split("(")[0].strip() for line in pytestconfig.getini("markers")}
    assert {n for n in ours if n.startswith("cdp_")} == names, "pyproject.toml's markers must list cdpkit/suites/registry.py's"


@pytest.fixture
def own_project(tmp_path: Path) -> Path:
    """A project with its own `fuzz` marker and no use of cdpkit."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    fuzz: this project's own fuzz tests\n")
    (tmp_path / "test_own.py").write_text(textwrap.dedent("""\
        import pytest

        @pytest.mark.fuzz
        def test_own_fuzz():
            assert True

        def test_plain():
            assert True
    """))
    return tmp_path


def run_pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          capture_output=True, text=True, timeout=300, env={**environ, **(env or {})})


def test_a_project_with_its_own_fuzz_marker_runs_as_before(own_project: Path) -> None:
    run = run_pytest(own_project, "-q", "-m", "fuzz")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 deselected" in run.stdout
    assert "cdp" not in run.stdout + run.stderr
    run = run_pytest(own_project, "-q", "--strict-markers")
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
    helptext = run_pytest(own_project, "--help").stdout
    assert "--cdp-" not in helptext and "cdpkit" not in helptext
    markers = run_pytest(own_project, "--markers").stdout
    assert "@pytest.mark.fuzz: this project's own fuzz tests" in markers
    assert "cdp_" not in markers


def test_the_fixture_plugin_imports_nothing_until_used(own_project: Path) -> None:
    """Deterministic: cdpkit's plugin is loaded, and imports neither aiohttp nor any of cdpkit's layers."""
    # -X importtime logs every `import` statement (an entry point itself is loaded through importlib, unlogged;
    # what it imports is logged); -s so that nothing of stderr is captured.
    run = run_pytest(own_project, "-q", "-s", "--trace-config", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PLUGIN registered: <module 'cdpkit.mockserver.pytest_plugin'" in run.stdout
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "pytest" in imported and len(imported) > 100  # the log is there
    # (Faker's own pytest plugin, `faker`, imports Faker: a dependency's plugin, measured below, not cdpkit's.)
    heavy = sorted(m for m in imported if m.split(".")[0] == "aiohttp"
                   or m.startswith("cdpkit.") and m not in {"cdpkit.mockserver", "cdpkit.mockserver.pytest_plugin"})
    assert heavy == [], f"cdpkit's pytest plugin imported {heavy} in a project that never uses it"


def test_no_measurable_start_up_cost(own_project: Path) -> None:
    """A trivial run with cdpkit's entry points and without them (`-p no:cdp_mock`), in alternating
    rounds, medians compared, in CPU time (user + system of the pytest process: imports are CPU work,
    and CPU time moves far less than wall time with the machine's load; wall time is printed too).
    Before this fix cdpkit's plugins cost 2-3 s here; the bound is generous, and the import check above
    is the exact proof. Printed beside them: the run without Faker's own plugin too (Faker is a
    dependency of cdpkit, and its plugin imports Faker)."""
    blocked = [a for name in cdpkit_entry_points() for a in ("-p", f"no:{name}")]
    configs = {"with cdpkit": [], "without cdpkit's entry points": blocked,
               "also without Faker's plugin": [*blocked, "-p", "no:faker"]}
    cpu: dict[str, list[float]] = {label: [] for label in configs}
    wall: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(5):
        for label, extra in configs.items():
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            run = run_pytest(own_project, "-q", *extra)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            assert run.returncode == 0, run.stdout + run.stderr
    med = {k: statistics.median(v) for k, v in cpu.items()}
    cost = med["with cdpkit"] - med["without cdpkit's entry points"]
    print("\ntrivial pytest run, median of 5 alternating rounds, CPU (wall): "
          + ", ".join(f"{label} {m:.2f} s ({statistics.median(wall[label]):.2f} s)" for label, m in med.items())
          + f"; cdpkit's entry points cost {cost:+.2f} s CPU"
          + f"; CPU rounds: {json.dumps({k: [round(x, 2) for x in v] for k, v in cpu.items()})}")
    assert cost < 0.3


def test_the_wheel_adds_one_top_level_package(tmp_path: Path) -> None:
    """Built as `pip install cdpkit` builds it: every file of the wheel is under ``cdpkit/`` or its metadata."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("cdpkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"cdpkit", wheel.name.split("-py")[0] + ".dist-info"}
    for needed in ("cdpkit/py.typed", "cdpkit/schemas/zebline/catalog.json", "cdpkit/mockserver/dashboard/dashboard.js",
                   "cdpkit/suites/test_zebline.py", "cdpkit/generators/zebline.py"):
        assert needed in names, needed
    assert "cdpkit.mockserver.pytest_plugin" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    # The base install brings no plugin of its own into pytest runs besides cdp_mock: Faker's and
    # schemathesis's plugins come only with the extras that need them.
    requires = [line for line in zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    for name in ("faker", "schemathesis", "hypothesis"):
        lines = [line for line in requires if line.split()[1].lower().startswith(name)]
        assert lines and all("extra ==" in line for line in lines), (name, lines)


def test_the_suites_plugin_loads_only_where_asked() -> None:
    from cdpkit.mockserver.pytest_plugin import asks_for_suites

    assert not asks_for_suites([])
    assert not asks_for_suites(["-q", "tests", "-m", "fuzz"])
    assert not asks_for_suites(["--pyargs", "mypackage.suites"])
    assert asks_for_suites(["--pyargs", "cdpkit.suites"])
    assert asks_for_suites(["--pyargs", "cdpkit.suites.test_gptbots::test_x"])
    assert asks_for_suites(["tests/", "--cdp-target", "http://127.0.0.1:8080"])


def test_gen_without_the_gen_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The base install has no Faker: `cdpkit --help` still lists `gen` (its front imports no Faker) and
    `cdpkit gen` stops with exit 2, saying which extra to install."""
    from cdpkit import gen_command
    from cdpkit.cli import main

    monkeypatch.setattr(gen_command, "missing_gen_extra", lambda: ["faker"])
    assert main(["gen", "--list"]) == 2
    assert "pip install 'cdpkit[gen]'" in capsys.readouterr().err
    check = subprocess.run([sys.executable, "-c", "import sys; sys.modules['faker'] = None\n"
                            "from cdpkit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n    sys.exit(e.code)"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and " gen " in check.stdout, check.stderr


def test_check_without_the_check_extra_says_what_to_install(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from cdpkit.suites import plugin

    monkeypatch.setattr(plugin, "missing_check_extra", lambda: ["schemathesis", "hypothesis"])
    result = pytester.runpytest_inprocess("-p", "cdpkit.suites.plugin", "--pyargs", "cdpkit.suites.test_gptbots", "--noconftest",
                                          "-p", "no:cacheprovider", "--cdp-target", "http://127.0.0.1:9",
                                          "--cdp-vendor", "gptbots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pip install 'cdpkit[check]'" in result.stderr.str()


def test_check_leaves_no_hypothesis_folder_in_the_current_directory(tmp_path: Path) -> None:
    from cdpkit.mockserver.pytest_plugin import MockServer
    from cdpkit.mockserver.runtime import MockConfig

    cwd, cache = tmp_path / "work", tmp_path / "cache"
    cwd.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    with MockServer(MockConfig(port=0, vendors=["gptbots"])) as server:
        run = subprocess.run([sys.executable, "-m", "cdpkit.cli", "check", "--vendor", "gptbots", "--target", server.url,
                              "--max-examples", "2"], cwd=cwd, capture_output=True, text=True, timeout=600,
                             env={**environ, "XDG_CACHE_HOME": str(cache)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "property" in run.stdout  # the schemathesis run took place
    assert sorted(p.name for p in cwd.iterdir()) == []
    assert (cache / "cdpkit" / "hypothesis").is_dir()


# --- pins ------------------------------------------------------------------------------------------------


def test_seeded_generator_output_is_byte_identical_to_the_golden_digests() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    faker_now = importlib.metadata.version("faker")
    changed = []
    for name, args in GEN_RUNS.items():
        data = gen_output(args)
        if name == "readme":
            assert data == README_EXAMPLE.read_bytes(), (
                f"`cdpkit gen {' '.join(args)}` changed with Faker {faker_now} (golden made with "
                f"{golden['faker']}): seeded output is no longer reproducible byte for byte")
        if digest(data) != golden["runs"][name]:
            changed.append(f"cdpkit gen {' '.join(args)}")
    assert not changed, (
        f"seeded generator output changed (Faker {faker_now}; the digests were made with Faker {golden['faker']}): "
        + "; ".join(changed) + ". If the Faker upgrade is deliberate, regenerate with "
        "`python -m tests.test_packaging --regenerate` and say in the release notes that seeded output changed.")


def test_every_jsonschema_rs_error_kind_validation_relies_on_still_exists() -> None:
    import jsonschema_rs

    # cdpkit/schemas/validation.py: `type(error.kind).__name__ == "Required"` and `error.kind.property`, the
    # error's schema_path / instance_path / message; validator_for / is_valid / iter_errors.
    assert hasattr(jsonschema_rs.ValidationErrorKind, "Required"), "jsonschema-rs renamed its Required error kind"
    validator = jsonschema_rs.validator_for({"type": "object", "required": ["userId"],
                                             "properties": {"age": {"type": "integer", "minimum": 0}}})
    assert not validator.is_valid({})
    errors = list(validator.iter_errors({"age": -1}))
    kinds = {type(e.kind).__name__: e for e in errors}
    assert set(kinds) == {"Required", "Minimum"}, f"jsonschema-rs error kinds are now {sorted(kinds)}"
    required = kinds["Required"]
    assert required.kind.property == "userId"
    assert list(required.schema_path) == ["required"] and list(required.instance_path) == []
    assert list(kinds["Minimum"].schema_path) == ["properties", "age", "minimum"]
    assert list(kinds["Minimum"].instance_path) == ["age"]
    assert required.message == '"userId" is a required property'  # the mock's refusals quote these messages


def test_validation_names_the_requirement_of_a_missing_property() -> None:
    """End to end through cdpkit/schemas/validation.py: a missing required property maps to its x-required-by ID."""
    from cdpkit.schemas.validation import Validators

    found = Validators(["zebline"]).violations("zebline", "upsert_user", "body", {})
    assert found and all(v.requirement_id.startswith("ZEB-") for v in found)
    assert "ZEB-ATTRIBUTES-REQUIRED" in {v.requirement_id for v in found}


def regenerate() -> None:
    DATA.mkdir(exist_ok=True)
    runs = {name: gen_output(args) for name, args in GEN_RUNS.items()}
    README_EXAMPLE.write_bytes(runs["readme"])
    GOLDEN.write_text(json.dumps({"faker": importlib.metadata.version("faker"),
                                  "runs": {name: digest(data) for name, data in runs.items()}}, indent=1) + "\n",
                      encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate"]:
        regenerate()
    else:
        sys.exit("usage: python -m tests.test_packaging --regenerate")
