"""What the HTTP benchmark prints at the end: medians per target, ratios and the budgets.

Budgets (SPEC §11): habitctl at least 70 % of the ceiling's requests per second at the first
page and at the deep cursor, and a p99 at most 1.5× the ceiling's p99, all in the same run.
"""

from __future__ import annotations

from benchmarks.common import verdict
from benchmarks.http_load import Load

SHARE_OF_CEILING = 70.0  # %
P99_OF_CEILING = 1.5  # ×
DEPTHS = ("first page", "deep cursor")


def describe(name: str, label: str, result: Load) -> str:
    return (
        f"  {name:<16} {label:<12} {result.requests_per_s:9.1f} req/s  "
        f"p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
        f"server CPU {result.server_cpu_ms:6.2f} ms/request  "
        f"({result.requests} requests, {result.errors} errors)"
    )


def summary(results: dict[tuple[str, str], Load], drf_labels: dict[str, str]) -> list[str]:
    """The ratio lines, then one `budget …` line per budget, for habitctl (and `before`)."""
    lines = []
    servers = [name for name in ("habitctl", "before") if (name, DEPTHS[0]) in results]
    for name in servers:
        for label in DEPTHS:
            ours, ceiling = results[(name, label)], results[("ceiling", label)]
            lines.append(
                f"ratio {name}/ceiling {label}: {ours.requests_per_s:.1f} / "
                f"{ceiling.requests_per_s:.1f} req/s = "
                f"{ours.requests_per_s / ceiling.requests_per_s:.3f}; p99 {ours.p99_ms:.1f} / "
                f"{ceiling.p99_ms:.1f} ms = {ours.p99_ms / ceiling.p99_ms:.2f}x; server CPU per "
                f"request {ours.server_cpu_ms:.2f} / {ceiling.server_cpu_ms:.2f} ms"
            )
            drf = results.get(("drf", drf_labels[label]))
            if name == "habitctl" and drf is not None and drf.requests_per_s:
                lines.append(
                    f"ratio habitctl/drf {label} (drf {drf_labels[label]}): "
                    f"{ours.requests_per_s / drf.requests_per_s:.1f}x"
                )
    for name in servers:
        prefix = "http" if name == "habitctl" else "http before"
        for label in DEPTHS:
            ours, ceiling = results[(name, label)], results[("ceiling", label)]
            share = 100 * ours.requests_per_s / ceiling.requests_per_s
            lines.append(
                verdict(
                    f"{prefix} {label} share of ceiling",
                    share,
                    SHARE_OF_CEILING,
                    "%",
                    at_most=False,
                )
            )
            lines.append(
                verdict(
                    f"{prefix} {label} p99 against ceiling's",
                    ours.p99_ms / ceiling.p99_ms,
                    P99_OF_CEILING,
                    "x",
                    at_most=True,
                )
            )
    return lines
