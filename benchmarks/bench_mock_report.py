"""What bench_mock.py prints after its rounds: the table of medians with the ratios, and issue 9's goals.

Every ratio compares two servers measured in the same run, alternating, under the same load: on a
machine shared with other work the rates move together, so their ratio holds where the rates do not.
A ratio with a server that did not answer 2xx to (nearly) every request is printed as "void": the two
did different work (a 422 is cheaper than an upsert), so the number would flatter one of them.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

VOID_SHARE = 0.01  # a server answering more than this share of non-2xx did other work: its ratios are void


@dataclass
class Result:
    """One server on one scenario in one round."""

    rate: float
    p50: float
    p99: float
    rss_mb: float
    cpu_us: float  # the server's CPU time per request: steadier than req/s on a machine shared with other work
    statuses: dict[str, int]

    @property
    def void(self) -> bool:
        answered = sum(self.statuses.values())
        ok = sum(n for status, n in self.statuses.items() if status.startswith("2"))
        return answered == 0 or ok < (1 - VOID_SHARE) * answered


Results = dict[tuple[str, str], list[Result]]


def median(rs: list[Result], field: str) -> float:
    return statistics.median(getattr(r, field) for r in rs)


def ratio(results: Results, scenario: str, server: str, other: str) -> tuple[float, float] | None:
    """(req/s of server ÷ req/s of other, CPU µs/req of other ÷ CPU µs/req of server): both > 1 when ``server``
    is the faster; None when either is missing or void."""
    mine, theirs = results.get((scenario, server)), results.get((scenario, other))
    if not mine or not theirs or any(r.void for r in mine + theirs):
        return None
    cpu = median(mine, "cpu_us")
    return median(mine, "rate") / median(theirs, "rate"), (median(theirs, "cpu_us") / cpu if cpu else float("nan"))


def status_mix(rs: list[Result]) -> str:
    """Every status answered over the rounds with its share: "200 100%", "200 97.5% 422 2.5%"."""
    total: dict[str, int] = {}
    for r in rs:
        for status, n in r.statuses.items():
            total[status] = total.get(status, 0) + n
    answered = sum(total.values()) or 1
    return " ".join(f"{status} {100 * n / answered:.3g}%" if n != answered else f"{status} 100%"
                    for status, n in sorted(total.items(), key=lambda item: -item[1])) or "none"


def _column(results: Results, scenario: str, server: str, other: str, servers: list[str]) -> str:
    if other not in servers:
        return "-"
    if server == other:
        return "1.00"
    found = ratio(results, scenario, server, other)
    return "void" if found is None else f"{found[0]:.2f}"


def print_table(args: argparse.Namespace, chosen: list[str], servers: list[str], results: Results) -> None:
    """The medians over the rounds, one row per scenario and server."""
    if not servers:
        print("\nno server was left to load: every one asked for was skipped (the reasons are above)")
        return
    width = max([len("server"), *map(len, servers)])
    print(f"\nmedians over {args.rounds} round(s); ÷ X is this server's req/s over X's on the same scenario in this "
          f"run (void: one of the two answered non-2xx to more than {VOID_SHARE:.0%} of the requests):")
    print(f"{'scenario':<22} {'server':<{width}} {'req/s':>9} {'÷ bare':>7} {'÷ memory':>9} {'÷ prism':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10} {'RSS MB':>7}  answers")
    for name in chosen:
        for server in servers:
            rs = results[(name, server)]
            kind, at, label = server.partition("@")
            store = kind not in ("bare", "raw", "memory", "nolane", "prism")
            memory = _column(results, name, server, "memory" + at + label, servers) if store else ""
            versus_prism = _column(results, name, server, "prism", servers) if kind != "prism" else ""
            print(f"{name:<22} {server:<{width}} {median(rs, 'rate'):>9,.0f} "
                  f"{_column(results, name, server, 'bare', servers):>7} {memory:>9} {versus_prism:>8} "
                  f"{median(rs, 'p50'):>7.2f} {median(rs, 'p99'):>7.2f} {median(rs, 'cpu_us'):>10.0f} "
                  f"{max(r.rss_mb for r in rs):>7.1f}  {status_mix(rs)}")


def print_goals(chosen: list[str], servers: list[str], results: Results, startup: dict[str, float]) -> None:
    """Issue 9's goals, each with this run's figure and whether it is met: the benchmark says them, no test
    asserts them (a timed assertion on a shared machine would be flaky, or so loose it proves nothing)."""
    lines: list[tuple[str, str, str, bool]] = []
    for name in chosen:
        for server, other, goal in (("memory", "bare", 0.8), ("memory", "prism", 3.0), ("sqlite", "memory", 0.5)):
            if server in servers and other in servers:
                found = ratio(results, name, server, other)
                figure = "void (non-2xx answers)" if found is None else f"{found[0]:.2f}  (by CPU/req {found[1]:.2f})"
                lines.append((f"{name}: {server} ÷ {other}", figure, f"≥ {goal:g}", found is not None and found[0] >= goal))
        if "memory" in servers:
            p99 = median(results[(name, "memory")], "p99")
            lines.append((f"{name}: memory p99", f"{p99:.1f} ms", "< 5 ms", p99 < 5))
    for label in ("cdpkit mock", "python -m cdpkit mock"):
        if label in startup:
            took = startup[label] * 1000
            lines.append((f"start-up: {label}", f"{took:.0f} ms", "< 300 ms", took < 300))
    if not lines:
        return
    print("\nissue 9 goals in this run (ratios of req/s; by CPU/req: the other server's CPU µs per request over this "
          "one's, steadier on a shared machine):")
    width = max(len(line[0]) for line in lines)
    for what, figure, goal, met in lines:
        print(f"  {what:<{width}}  {figure:<30} goal {goal:<9} {'met' if met else 'not met'}")
