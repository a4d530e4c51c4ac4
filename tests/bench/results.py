"""Machine-readable results of the benchmark scripts, for report.py.

Each script keeps a Results and, with --json FILE, writes every figure it
printed: the samples of hubfs and of its baseline (measured in the same
invocation), the ratio compared with the issue's goal, and whether it is met.
"""
import json
import statistics


def med(v):
    return statistics.median(v)


def spread(v):
    """Half the range of the samples, relative to their median."""
    return (max(v) - min(v)) / 2 / med(v) if v and med(v) else 0.0


class Results:
    def __init__(self, bench):
        self.bench = bench
        self.rows = []
        self.info = {}

    def figure(self, issue, name, ours, base=None, base_name="", unit="s", ratio=None,
               goal=None, met=None, value=None):
        """ours/base: samples (seconds unless unit says otherwise).  ratio:
        the figure compared with the goal, as printed (e.g. speed vs time);
        value: the compared number when it is not a ratio (ms, MiB)."""
        self.rows.append({
            "bench": self.bench, "issue": issue, "figure": name, "unit": unit,
            "ours": list(ours), "ours_median": med(ours), "ours_spread": spread(ours),
            "baseline": base_name, "base": list(base or []),
            "base_median": med(base) if base else None, "base_spread": spread(base) if base else None,
            "ratio": ratio, "value": value, "goal": goal, "met": met,
        })

    def write(self, path):
        if path:
            with open(path, "w") as f:
                json.dump({"bench": self.bench, "info": self.info, "rows": self.rows}, f, indent=1)
