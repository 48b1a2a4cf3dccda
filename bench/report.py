"""Benchmark: build the reports for a large synthetic history and open it in Chromium.

    python bench/report.py --ops 1000000     # the target: ≤30 s, ≤30 MB, opens in ≤5 s
    python bench/report.py --smoke           # 20,000 ops, a few seconds

Prints figures; asserts nothing (timings depend on the machine). The history is made in
memory (register workload, 10 workers, Jepsen-style process renumbering after `info`,
a partition every 20 s with slow/failed/timed-out ops inside it, clock-offset readings);
the results carry 32 read-your-writes anomalies naming real ops, an unknown checker and
staleness stats, so every part of the page is exercised.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MS = 1_000_000


def synthetic_events(n_ops: int, *, workers: int = 10, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    events: list[dict] = []
    proc = list(range(workers))
    free_at = [0] * workers
    t = 0
    idx = 0
    keys = [f"k{i}" for i in range(50)]
    partition = False
    next_fault = 20_000 * MS
    counter = 0
    pending: list[tuple[int, dict]] = []  # (completion time, completion event)
    import heapq

    def flush(until: int) -> None:
        nonlocal idx
        while pending and pending[0][0] <= until:
            _, _, ev = heapq.heappop(pending)
            ev["index"] = idx
            idx += 1
            events.append(ev)

    for _ in range(n_ops):
        w = min(range(workers), key=lambda i: free_at[i])
        t = max(t, free_at[w])
        if t >= next_fault:
            flush(t)
            f = "stop-partition" if partition else "start-partition"
            for typ in ("invoke", "info"):
                events.append({"index": idx, "time": t, "process": "nemesis", "type": typ, "f": f,
                               "value": None if typ == "invoke" else {"n1": ["n2", "n3"]}})
                idx += 1
            if not partition:
                events.append({"index": idx, "time": t + 1, "process": "nemesis", "type": "info",
                               "f": "clock-offsets",
                               "value": {"n1": rng.uniform(-5, 5), "n2": rng.uniform(-200, 200),
                                         "n3": rng.uniform(-5, 5)}})
                idx += 1
            partition = not partition
            next_fault = t + (10_000 if partition else 20_000) * MS
        flush(t)
        key = rng.choice(keys)
        is_write = rng.random() < 0.5
        counter += 1
        inv = {"index": idx, "time": t, "process": proc[w], "type": "invoke",
               "f": "write" if is_write else "read", "key": key,
               "value": counter if is_write else None}
        idx += 1
        events.append(inv)
        lat = int(rng.lognormvariate(0.0, 0.6) * MS * (20 if partition else 1))
        r = rng.random()
        typ = "ok"
        if partition and r < 0.05:
            typ = "info"
        elif (partition and r < 0.15) or r < 0.002:
            typ = "fail"
        comp = {"time": t + lat, "process": proc[w], "type": typ, "f": inv["f"], "key": key,
                "value": counter if is_write else (rng.randint(1, counter) if typ == "ok" else None),
                "node": f"n{1 + w % 3}"}
        if typ != "ok":
            comp["error"] = "timeout" if typ == "info" else "READONLY"
        heapq.heappush(pending, (t + lat, idx * 4 + w, comp))
        free_at[w] = t + lat + rng.randint(0, 2 * MS)
        if typ == "info":
            proc[w] += workers  # Jepsen: a worker continues under a new process after info
    flush(float("inf"))
    return events


def synthetic_results(history) -> dict:
    from splitbrain.checkers.result import Anomaly, CheckResult

    reads = [op for op in history.ops if op.f == "read" and op.type == "ok"][:64]
    writes = [op for op in history.ops if op.f == "write" and op.type == "ok"][:64]
    anomalies = [Anomaly("read-your-writes",
                         f"process {w.process} wrote {w.key}={w.value} (op {w.index}) and its later "
                         f"read (op {r.index}) returned an older value", [w.index, r.index],
                         key=w.key, process=w.process)
                 for w, r in zip(writes[:32], reads[:32])]
    checks = {
        "read-your-writes": CheckResult("read-your-writes", False, anomalies, anomaly_count=1234),
        "monotonic-reads": CheckResult("monotonic-reads", True),
        "lost-updates": CheckResult("lost-updates", "unknown", reason="no final reads"),
        "staleness": CheckResult("staleness", True, stats={"p50_ms": 0.4, "p90_ms": 4.0, "p99_ms": 35.0,
                                                           "max_ms": 410.0, "max_versions": 3}),
    }
    return {"valid": False, "workload": "register",
            "checkers": {n: c.to_json() for n, c in checks.items()},
            "stats": history.stats(), "timings_s": {}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="20,000 ops")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the output directory")
    args = ap.parse_args()
    n = 20_000 if args.smoke else args.ops

    from splitbrain.harness.history import history_from_events
    from splitbrain.reports.outputs import write_outputs

    t0 = time.perf_counter()
    events = synthetic_events(n)
    hist = history_from_events(events, source=f"synthetic-{n}")
    del events
    t_hist = time.perf_counter() - t0
    results = synthetic_results(hist)
    out = tempfile.mkdtemp(prefix="sbbench-report-")
    try:
        t1 = time.perf_counter()
        paths = write_outputs(out, results, history=hist, test={"name": f"bench-{n}", "ops": n})
        t_report = time.perf_counter() - t1
        size = os.path.getsize(paths["report.html"])
        print(f"ops: {len(hist.ops):,} (info {hist.stats()['info']:,}, "
              f"nemesis events {len(hist.nemesis)})  history built in {t_hist:.1f} s")
        print(f"write_outputs: {t_report:.2f} s   report.html: {size / 1e6:.1f} MB")
        if not args.no_browser:
            from splitbrain.reports.chromium import HeadlessChromium

            with HeadlessChromium() as browser:
                page = browser.open("file://" + paths["report.html"], settle_s=0)
                t_load = page.load_s
                t2 = time.perf_counter()
                while not browser.evaluate(page, "window.sbReady === true"):
                    if time.perf_counter() - t2 > 120:
                        break
                    time.sleep(0.05)
                t_ready = t_load + (time.perf_counter() - t2)
                browser.refresh_errors(page)
                fcp = browser.evaluate(page, "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
                shot = os.path.join(out, "bench.png")
                browser.screenshot(page, shot)
                print(f"chromium: first paint {(fcp or 0) / 1000:.2f} s, load event {t_load:.2f} s, "
                      f"charts drawn {t_ready:.2f} s, "
                      f"errors: {page.errors or 'none'}  webgl: {browser.evaluate(page, 'window.sbWebGL')}")
        if args.keep:
            print(f"kept: {out}")
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
