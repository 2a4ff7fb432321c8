"""Run a fuzzing campaign of mic's decoders and write its summary and findings.

    python fuzz/run_campaign.py [--minutes=20] [--targets=codec,dicom] [options]

Steps:

1. **Seed**: copy every conformance stream under ``formats/`` (lossless, lossy,
   invalid; stream versions 1 and 2) into ``WORK/seeds`` (``fuzz/seed_corpus.py``).
2. **Fuzz** each target for its share of the time: ``fuzz/fuzz_decode.py`` under
   libFuzzer with ``-timeout``, ``-rss_limit_mb``, ``-max_len`` and
   ``-print_final_stats=1``, the harness in ``--keep-going`` mode (it records each new
   finding and goes on). A run that libFuzzer ends early (a hang past ``-timeout``, RSS
   past ``-rss_limit_mb``, a crash outside Python) is recorded and restarted on the
   grown corpus (``WORK/<target>/corpus``) until the target's time is spent.
3. **Known check** (``--known``): the forged stream of the issue -- a valid 1x1 lossless
   stream whose header claims 32768 x 32768 samples -- through the harness with the
   library's default ``max_pixels`` (2**30) and the RSS limit, to confirm the blow-up.
4. **Triage**: every finding (harness records, libFuzzer ``crash-``/``timeout-``/
   ``oom-`` artifacts, the known check) is replayed in a fresh process
   (``fuzz/replay.py``, uninstrumented, after warm-up, address space capped) for its
   outcome, traceback top, CPU time and RSS; one input per signature (the smallest)
   goes to ``FINDINGS/`` with a line in ``FINDINGS/README.md`` and ``findings.json``.
5. **Summary** (``SUMMARY.json`` / ``.md``): per target, runs, executions, exec/s,
   final ``cov:``/``ft:`` figures, corpus size, findings by kind, slowest input and its
   time, peak RSS.

Everything runs niced (``nice -n 10``), one process at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import oracle  # noqa: E402
from seed_corpus import seed  # noqa: E402

STATUS_RE = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)(?: corp: (\d+)/(\S+))?"
                       r".*?exec/s: (\d+) rss: (\d+)Mb")
STAT_RE = re.compile(r"^stat::(\w+):\s+(\S+)")
ERROR_RE = re.compile(r"==\d+== ERROR: libFuzzer: (.*)")
ARTIFACT_RE = re.compile(r"Test unit written to (\S+)")


def python() -> str:
    return sys.executable


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("PYTHONHASHSEED", "0")
    return e


def parse_log(text: str) -> dict:
    """libFuzzer's last status line, final ``stat::`` figures and any error."""
    out: dict = {"status": None, "stats": {}, "error": None, "artifacts": []}
    for line in text.splitlines():
        m = STATUS_RE.match(line)
        if m:
            out["status"] = {"execs": int(m[1]), "event": m[2], "cov": int(m[3]),
                             "ft": int(m[4]), "corp_units": int(m[5]) if m[5] else None,
                             "corp_size": m[6], "exec_per_s": int(m[7]), "rss_mb": int(m[8])}
        m = STAT_RE.match(line)
        if m:
            out["stats"][m[1]] = float(m[2]) if "." in m[2] else int(m[2])
        m = ERROR_RE.search(line)
        if m:
            out["error"] = m[1].strip()
        m = ARTIFACT_RE.search(line)
        if m:
            out["artifacts"].append(m[1])
    return out


def fuzz_target(target: str, seconds: float, args: argparse.Namespace, work: Path) -> dict:
    """Fuzz ``target`` for ``seconds`` of wall time (restarting after early exits)."""
    tdir = work / target
    corpus, found, arts = tdir / "corpus", tdir / "found", tdir / "artifacts"
    for d in (corpus, found, arts):
        d.mkdir(parents=True, exist_ok=True)
    runs = []
    deadline = time.time() + seconds
    n = 0
    while True:
        left = int(deadline - time.time())
        if left < 30 or n >= args.max_restarts:
            break
        n += 1
        log = tdir / f"run-{n}.log"
        stats = tdir / f"stats-{n}.json"
        cmd = ["nice", "-n", "10", python(), str(HERE / "fuzz_decode.py"),
               f"--target={target}", f"--max-pixels={args.max_pixels}",
               f"--slow-s={args.slow_s}", f"--keep-going={found}", f"--stats={stats}",
               f"--rss-finding-mb={args.rss_finding_mb}", f"--as-limit-mb={args.as_limit_mb}",
               str(corpus), str(work / "seeds"),
               f"-max_total_time={left}", f"-timeout={args.timeout}",
               f"-rss_limit_mb={args.rss_limit_mb}", f"-max_len={args.max_len}",
               "-print_final_stats=1", f"-artifact_prefix={arts}/", f"-seed={args.seed + n}"]
        t0 = time.time()
        with open(log, "w") as fh:
            fh.write("# " + " ".join(cmd) + "\n")
            fh.flush()
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env(),
                                 timeout=left + 300)
        text = log.read_text(errors="replace")
        info = parse_log(text)
        info.update(run=n, rc=rc, wall_s=round(time.time() - t0, 1), log=str(log))
        if stats.exists():
            info["harness"] = json.loads(stats.read_text())
        runs.append(info)
        st = info["status"] or {}
        print(f"[{target}] run {n}: rc={rc} {info['wall_s']} s, execs "
              f"{info['stats'].get('number_of_executed_units', st.get('execs'))}, cov "
              f"{st.get('cov')} ft {st.get('ft')}, error: {info['error']}", flush=True)
    return {"target": target, "runs": runs}


def known_check(args: argparse.Namespace, work: Path) -> dict:
    """The issue's forged header (1x1 lossless stream claiming 32768 x 32768) through the
    harness with the library default max_pixels and the campaign's RSS limit."""
    kdir = work / "known"
    kdir.mkdir(parents=True, exist_ok=True)
    p = oracle.Parsed.parse((ROOT / "formats" / "one_by_one_u16.mic").read_bytes())
    names = [n for n, _ in oracle.HEADER_FIELDS]
    p.fields[names.index("rows")] = p.fields[names.index("cols")] = 32768
    data = p.dump()
    path = kdir / "forged_32768x32768.mic"
    path.write_bytes(data)
    log = kdir / "run.log"
    cmd = ["nice", "-n", "10", python(), str(HERE / "fuzz_decode.py"), "--target=codec",
           f"--max-pixels={1 << 30}", f"--slow-s={args.slow_s}",
           f"--as-limit-mb={args.known_as_limit_mb}", "--no-warmup",
           str(path), f"-rss_limit_mb={args.rss_limit_mb}", f"-timeout={args.timeout}",
           "-print_final_stats=1", f"-artifact_prefix={kdir}/"]
    t0 = time.time()
    with open(log, "w") as fh:
        fh.write("# " + " ".join(cmd) + "\n")
        fh.flush()
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env(),
                             timeout=600)
    text = log.read_text(errors="replace")
    info = parse_log(text)
    exc = re.findall(r"^(\w*Error|\w*Exception): (.*)$", text, re.M)
    info.update(rc=rc, wall_s=round(time.time() - t0, 1), input=str(path), len=len(data),
                log=str(log), python_exception=(": ".join(exc[-1]) if exc else None))
    print(f"[known] rc={rc} error={info['error']} exception={info['python_exception']}",
          flush=True)
    return info


def replay(files: list[Path], target: str, max_pixels: int, as_limit_mb: int) -> list[dict]:
    """``fuzz/replay.py`` on each file in its own process (memory measured per input)."""
    out = []
    for f in files:
        cmd = ["nice", "-n", "10", python(), str(HERE / "replay.py"), "--json",
               f"--target={target}", f"--max-pixels={max_pixels}",
               f"--as-limit-mb={as_limit_mb}", str(f)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env(),
                               timeout=300)
            lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
            rec = lines[-1] if lines else {"file": str(f), "finding": True,
                                           "outcome": f"replay died (rc {r.returncode}): "
                                                      f"{r.stderr.strip()[-300:]}"}
        except subprocess.TimeoutExpired:
            rec = {"file": str(f), "finding": True, "outcome": "replay > 300 s: hang"}
        rec["as_limit_mb"] = as_limit_mb
        out.append(rec)
    return out


def triage(results: list[dict], known: dict | None, args: argparse.Namespace, work: Path,
           findings_dir: Path) -> list[dict]:
    """Replay every finding, keep the smallest input per signature, write FINDINGS/."""
    cands: list[tuple[str, str, Path, dict]] = []  # (target, kind, file, harness record)
    for res in results:
        t = res["target"]
        for rec_path in sorted((work / t / "found").glob("*.json")):
            rec = json.loads(rec_path.read_text())
            cands.append((t, rec["kind"], rec_path.with_suffix(".bin"), rec))
        for art in sorted((work / t / "artifacts").glob("*")):
            kind = art.name.split("-", 1)[0]
            cands.append((t, {"crash": "crash", "timeout": "hang", "oom": "memory",
                              "slow": "slow"}.get(kind, kind), art,
                          {"signature": f"libfuzzer-{kind}", "detail": f"libFuzzer {kind}"}))
    if known is not None:
        cands.append(("codec", "memory", Path(known["input"]),
                      {"signature": "known:huge-header", "detail": "the issue's forged header",
                       "max_pixels": 1 << 30}))
    kept: dict[str, dict] = {}
    for target, kind, path, rec in cands:
        mp = rec.get("max_pixels", args.max_pixels)
        rp = replay([path], target, mp, args.as_limit_mb)[0]
        if rec["signature"] == "known:huge-header":  # and with room to see how far it goes
            rp["with_big_as_limit"] = replay([path], target, mp, args.known_as_limit_mb)[0]
        sig = f"{target}:{rec['signature']}"
        entry = {"target": target, "kind": kind, "signature": sig, "len": path.stat().st_size,
                 "sha1": hashlib.sha1(path.read_bytes()).hexdigest(), "source": str(path),
                 "max_pixels": mp, "fuzz_detail": rec.get("detail"), "replay": rp}
        if sig not in kept or entry["len"] < kept[sig]["len"]:
            kept[sig] = entry
    findings_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for e in sorted(kept.values(), key=lambda e: (e["target"], e["kind"], e["signature"])):
        name = f"{e['target']}-{e['kind']}-{e['sha1'][:12]}.mic"
        shutil.copyfile(e["source"], findings_dir / name)
        e["file"] = name
        e["campaign"] = args.summary.name
        e["summary"] = describe(e)
        out.append(e)
    old = findings_dir / "findings.json"
    if args.append and old.exists():  # keep earlier campaigns' findings of other signatures
        mine = {e["signature"] for e in out}
        out = [e for e in json.loads(old.read_text()) if e["signature"] not in mine] + out
    write_index(out, findings_dir)
    return out


def write_index(out: list[dict], findings_dir: Path) -> None:
    """``FINDINGS/findings.json`` and ``FINDINGS/README.md`` (one line per finding)."""
    (findings_dir / "findings.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# Findings of the fuzzing campaign", "",
             "Written by `fuzz/run_campaign.py` (see `fuzz/README.md`). Each file is an input; "
             "replay it with `python fuzz/replay.py --target=TARGET --max-pixels=N FILE`. "
             "One line each: outcome (exception type and where, or time / RSS).", "",
             "| file | campaign | target | max_pixels | outcome |", "|---|---|---|---|---|"]
    for e in out:
        lines.append(f"| `{e['file']}` | {e.get('campaign', '')} | {e['target']} | "
                     f"{e['max_pixels']} | {e['summary']} |")
    if not out:
        lines.append("| (none) | | | | |")
    (findings_dir / "README.md").write_text("\n".join(lines) + "\n")


def describe(e: dict) -> str:
    rp = e["replay"]
    if rp.get("finding"):
        s = f"{rp.get('exception', '')} {rp['outcome'][:160]}".strip()
        if rp.get("where"):
            s += f" at {rp['where']}"
    else:
        s = f"replays as `{rp['outcome']}`"
    s += (f"; slowest call {rp.get('slowest_call_s', '?')} s CPU, peak RSS "
          f"{rp.get('peak_rss_mb', '?')} MB (+{rp.get('rss_growth_mb', '?')} MB)")
    big = rp.get("with_big_as_limit")
    if big:
        s += (f"; with a {big.get('as_limit_mb')} MB address-space cap: "
              f"{big['outcome'][:120]}, peak RSS {big.get('peak_rss_mb')} MB, "
              f"{big.get('cpu_s')} s CPU")
    s += f"; fuzzer saw: {str(e['fuzz_detail']).splitlines()[0][:160]}"
    return s.replace("|", "\\|").replace("\n", " ")


def summarize(results: list[dict], known: dict | None, findings: list[dict],
              args: argparse.Namespace, wall: float) -> dict:
    targets = {}
    for res in results:
        runs = res["runs"]
        execs = sum(r["stats"].get("number_of_executed_units",
                                    (r["status"] or {}).get("execs", 0)) for r in runs)
        last = [r["status"] for r in runs if r["status"]]
        slow = max((r.get("harness", {}) for r in runs), key=lambda h: h.get("slowest_s", 0),
                   default={})
        targets[res["target"]] = {
            "runs": len(runs),
            "wall_s": round(sum(r["wall_s"] for r in runs), 1),
            "executions": execs,
            "exec_per_s": round(execs / max(1.0, sum(r["wall_s"] for r in runs)), 1),
            "cov": max((s["cov"] for s in last), default=None),
            "ft": max((s["ft"] for s in last), default=None),
            "corpus_units": last[-1]["corp_units"] if last else None,
            "corpus_size": last[-1]["corp_size"] if last else None,
            "new_units_added": sum(r["stats"].get("new_units_added", 0) for r in runs),
            "libfuzzer_slowest_unit_time_sec": max(
                (r["stats"].get("slowest_unit_time_sec", 0) for r in runs), default=None),
            "slowest_call_s": slow.get("slowest_s"),
            "slowest_input_s": slow.get("slowest_input_s"),
            "slowest_len": slow.get("slowest_len"),
            "slowest_sha1": slow.get("slowest_sha1"),
            "peak_rss_mb": max((r["stats"].get("peak_rss_mb", (r["status"] or {}).get("rss_mb", 0))
                                for r in runs), default=None),
            "run_endings": [r["error"] or f"rc {r['rc']}" for r in runs],
            "outcomes": _merge([r.get("harness", {}).get("outcomes", {}) for r in runs]),
            "findings": sum(1 for f in findings if f["target"] == res["target"]),
        }
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_s": round(wall, 1),
            "settings": {k: getattr(args, k) for k in (
                "minutes", "targets", "max_pixels", "timeout", "slow_s", "rss_limit_mb",
                "as_limit_mb", "max_len", "seed")},
            "targets": targets, "known": known,
            "findings": [{k: f[k] for k in ("file", "target", "kind", "summary")}
                         for f in findings]}


def keep_slowest(results: list[dict], summary: Path) -> None:
    """Copy each target's slowest input (the harness' ``stats-N.slowest.bin`` of the run
    that saw the slowest call) next to the summary as ``SUMMARY-slowest-TARGET.mic``."""
    for res in results:
        best = max((r for r in res["runs"] if r.get("harness")),
                   key=lambda r: r["harness"].get("slowest_s", 0), default=None)
        if best is None:
            continue
        src = Path(best["log"]).with_name(f"stats-{best['run']}.slowest.bin")
        if src.exists():
            shutil.copyfile(src, summary.with_name(f"{summary.name}-slowest-{res['target']}.mic"))


def _merge(ds: list[dict]) -> dict:
    out: dict = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def write_summary(summary: dict, path: Path) -> None:
    path.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    s = summary
    lines = [f"# Fuzzing campaign summary ({s['when']})", "",
             f"Wall time {s['wall_s']} s; settings: `{json.dumps(s['settings'])}`.", "",
             "| target | runs | executions | exec/s | cov | ft | corpus | slowest call (s) | "
             "peak RSS (MB) | findings | run endings |", "|---" * 11 + "|"]
    for t, v in s["targets"].items():
        lines.append(f"| {t} | {v['runs']} | {v['executions']} | {v['exec_per_s']} | {v['cov']} "
                     f"| {v['ft']} | {v['corpus_units']} ({v['corpus_size']}) | "
                     f"{v['slowest_call_s']} ({v['slowest_len']} B, sha1 "
                     f"{(v['slowest_sha1'] or '')[:12]}) | {v['peak_rss_mb']} | {v['findings']} "
                     f"| {'; '.join(v['run_endings'])} |")
    lines += ["", "Outcomes (harness count of each input's result):", ""]
    for t, v in s["targets"].items():
        lines.append(f"* {t}: " + ", ".join(f"{k} {n}" for k, n in v["outcomes"].items()))
    if s["known"]:
        k = s["known"]
        lines += ["", f"Known check (forged 32768 x 32768 header, max_pixels 2**30, "
                      f"`-rss_limit_mb={s['settings']['rss_limit_mb']}`): libFuzzer "
                      f"`{k['error']}`, Python `{k['python_exception']}`, peak RSS "
                      f"{k['stats'].get('peak_rss_mb')} MB."]
    lines += ["", "Findings: see `fuzz/findings/README.md`.", ""]
    for f in s["findings"]:
        lines.append(f"* `{f['file']}` ({f['target']}, {f['kind']}): {f['summary']}")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="total fuzzing wall time")
    ap.add_argument("--targets", default="codec,dicom",
                    help="comma-separated targets, time split --split (default codec,dicom)")
    ap.add_argument("--split", default="", help="fractions of the time, e.g. 0.7,0.3 "
                    "(default: equal)")
    ap.add_argument("--max-pixels", type=int, default=oracle.FUZZ_MAX_PIXELS)
    ap.add_argument("--timeout", type=int, default=10, help="libFuzzer -timeout (hang), s")
    ap.add_argument("--slow-s", type=float, default=1.0, help="harness slow-input threshold")
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    ap.add_argument("--rss-finding-mb", type=int, default=1536)
    ap.add_argument("--as-limit-mb", type=int, default=4096)
    ap.add_argument("--known-as-limit-mb", type=int, default=12288,
                    help="address-space cap of the known check (it must get to the RSS limit)")
    ap.add_argument("--max-len", type=int, default=1 << 20)
    ap.add_argument("--max-restarts", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--known", action="store_true", help="also run the known-issue check")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--findings", type=Path, default=HERE / "findings")
    ap.add_argument("--summary", type=Path, default=HERE / "campaign-summary")
    ap.add_argument("--append", action="store_true",
                    help="add to FINDINGS/ instead of replacing its index")
    args = ap.parse_args(argv)
    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    n = seed(args.work / "seeds")
    print(f"seeded {n} streams from formats/ into {args.work / 'seeds'}", flush=True)
    targets = [t for t in args.targets.split(",") if t]
    split = [float(x) for x in args.split.split(",")] if args.split else [1.0] * len(targets)
    total = sum(split)
    results = [fuzz_target(t, args.minutes * 60 * w / total, args, args.work)
               for t, w in zip(targets, split)]
    known = known_check(args, args.work) if args.known else None
    findings = triage(results, known, args, args.work, args.findings)
    keep_slowest(results, args.summary)
    mine = [f for f in findings if f.get("campaign") == args.summary.name]
    summary = summarize(results, known, mine, args, time.time() - t0)
    write_summary(summary, args.summary)
    print(args.summary.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
