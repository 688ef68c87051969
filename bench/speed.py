"""How fast is ltmc next to the tokenizers people already use? Same input, same run.

    python bench/speed.py                 # first ~29 MB of ru/prose, 1 and 2 workers
    python bench/speed.py --mb 5          # a quick run
    python bench/speed.py --full-mine     # also: mine-bonds on all of ru/ (target ≤ 60 s)
    python bench/speed.py --dask          # also: ltmc encode --engine dask
    python bench/speed.py --scale-copies 0 --repeat 1   # quickest: no scaling run, one try each

Every measured job is its own process, timed whole ("whole process": files on
disk → ids on disk → files, interpreter start and imports included):

    mine    ltmc mine-bonds -V 32768        vs  HF tokenizers byte-level BPE training, 32768
    encode  ltmc encode -c CODEBOOK -w N    vs  tiktoken o200k_base, HF BPE (bench/peer_driver.py)
    decode  ltmc decode -o DIR -w N         vs  the same peers, ids back to files

Encode and decode jobs run ``--repeat`` times (default 3). On this shared
virtual machine one run can be 10-20% off, and whole minutes run up to 1.5x
slower than others (the same 407 MB encode took 25 s and 38 s). So the jobs that
are compared take turns (ltmc with 1 and 2 workers, then each peer with 1 and 2,
then again, in reverse order every other turn so that drift through a turn
favours no job) instead of running their repeats back to back; the fastest run of each gives its
throughput, and the scaling target is the median over turns of 1 worker's time
÷ 2 workers' time in the same turn. Before every run its previous output is
moved aside (deleting it slowed the next run's file creations: ``_set_aside``;
with ``--keep`` the set-aside outputs stay in ``.set-aside`` folders) and the
file system synced, outside the timing: otherwise the kernel would still be
writing back the previous run's files during the next one (a 407 MB decode
took 3.09 s after a sync, 4.99-5.77 s without). Peak RSS is the largest of the
runs. Mining runs once.

Scaling (2 workers ÷ 1 worker) is measured on that input and, because a 29 MB
job lasts a few seconds of which start-up, loading the codebook and writing the
last shard cannot be shared out, also on all of ru/ linked ``--scale-copies``
times (default 10, ~407 MB), with the same codebook. The start-up itself is
measured too, as the same encode and decode on one short file; with it the script
prints the most that 2 workers could give each job if all the rest were shared
perfectly (Amdahl's bound). And each scaling turn also runs the machine's own
ceiling: two independent one-worker ltmc processes at once, each on half of the
input's files (by bytes, in sorted order), timed together. No way of splitting
the job over 2 workers can do better than two jobs that share nothing; on this
virtual machine even two pure-Python loops are 1.6-2.1x faster than one, varying
by the minute, so the script prints ltmc's scaling next to this ceiling.

Throughput is input bytes / wall seconds. The peers' "N workers" are N threads
(tiktoken releases the GIL; tokenizers uses RAYON_NUM_THREADS). Peak RSS per job:
"max proc" is the largest single process of the job (``os.wait4``'s ru_maxrss,
exact); "tree" is the largest sum over the job's process tree, sampled every
20 ms (needs psutil; forked workers share pages, so it overstates a little).
The script checks that ltmc's decode gives the input back byte for byte and that
its shards are identical for every worker count, and prints the issue's targets.
Progress goes to stderr, the table to stdout (``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_CORPUS, fail, link_tree, list_works, log, repeated_corpus, require_bench_extras, require_corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "peer_driver.py"
LTMC = [sys.executable, "-c", "import sys; from ltmc.cli import main; sys.argv[0] = 'ltmc'; main()"]
TARGETS = {  # from the issue: ltmc / tiktoken, whole process, one worker; scaling on 2 cores
    "encode": 0.5,
    "decode": 1.0,
    "scaling": 1.8,
    "full_mine_s": 60.0,
}


@dataclass
class Job:
    tool: str
    step: str
    workers: int
    seconds: float
    bytes: int
    max_proc_mb: float
    tree_mb: float | None
    inproc_s: float | None = None
    extra: dict = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)  # every run's seconds, in turn order

    @property
    def mb_s(self) -> float:
        return self.bytes / 1e6 / self.seconds


def _tree_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    try:
        import psutil
    except ImportError:
        return
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    peak.append(0.0)
    while not stop.is_set():
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        peak[0] = max(peak[0], total / 1e6)
        stop.wait(0.02)


def run(cmd: list[str], env: dict | None = None, output: Path | None = None) -> tuple[float, float, float | None, str]:
    """Run one job; (wall seconds, max single-process RSS MB, sampled tree RSS MB, stdout).
    ``output``, the job's output file or folder, is moved aside first (see _set_aside),
    and the file system synced."""
    if output is not None:
        _set_aside(output)
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        stop, peak = threading.Event(), []
        sampler = threading.Thread(target=_tree_rss, args=(proc.pid, stop, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        fail(f"{' '.join(cmd[3:] if cmd[:3] == LTMC else cmd)} exited {proc.returncode}:\n{stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, (peak[0] if peak else None), stdout


def _set_aside(output: Path) -> None:
    """Move a previous run's output into a folder beside it that goes when the bench
    ends. Deleting it instead made the next run slower: ext4 passes over inodes freed
    in the last minutes when it creates files, and after removing a 407 MB decode's
    3,090 files `perf` had a third of the next decode's kernel time in that search
    (recently_deleted), growing run after run (sys 1.8 s to 5.0 s). It costs disk:
    every run's output stays until the end."""
    if output.exists() or output.is_symlink():
        trash = output.parent / ".set-aside"
        trash.mkdir(exist_ok=True)
        output.rename(trash / f"{output.name}.{time.monotonic_ns()}")


def pick_input(corpus: Path, megabytes: float, dest: Path) -> int:
    """Links to the first ``megabytes`` MB of ru/prose, by sorted path; their total size."""
    works = [w for w in list_works(require_corpus(corpus)) if w.genre == "prose"]
    chosen, total = [], 0
    for work in works:
        if total >= megabytes * 1e6:
            break
        chosen.append(work)
        total += work.path.stat().st_size
    if not chosen:
        fail(f"no prose found under {corpus}/ru/prose")
    link_tree(chosen, dest)
    log(f"input: {len(chosen)} files of ru/prose, {total / 1e6:.1f} MB (linked under {dest})")
    return total


def split_halves(root: Path, dest: Path) -> None:
    """``dest``/a and ``dest``/b: links to the files under ``root`` in sorted order,
    the first ones up to half of the bytes in a, the rest in b, at the same paths."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    half, seen = sum(p.stat().st_size for p in files) / 2, 0
    for path in files:
        side = "a" if seen < half else "b"
        seen += path.stat().st_size
        link = dest / side / path.relative_to(root)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())


def at_once(first: list[str], second: list[str]) -> list[str]:
    """One command that runs two at the same time and fails if either does."""
    return ["bash", "-c", f"{shlex.join(first)} & pid=$!; {shlex.join(second)}; rc=$?; wait $pid && exit $rc"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _joined_halves(root: Path) -> dict[str, bytes]:
    """root/a and root/b as one tree: what split_halves cut apart."""
    return {**tree_bytes(root / "a"), **tree_bytes(root / "b")}


def measure(args, tmp: Path) -> tuple[list[Job], dict]:
    src = tmp / "input"
    size = pick_input(args.corpus, args.mb, src)
    jobs: list[Job] = []
    checks: dict = {}

    @dataclass
    class Spec:
        tool: str
        step: str
        workers: int
        cmd: list[str]
        output: Path
        env: dict | None = None
        n_bytes: int = size
        parse: bool = False

    def in_turns(*specs: Spec, repeat: int = args.repeat) -> None:
        """Each job ``repeat`` times, taking turns; the fastest run of each counts.
        Every other turn runs the jobs in reverse order, so that a machine slowing
        down or speeding up through a turn does not always favour the same job."""
        log("  " + ", ".join(f"{s.step} {s.tool} w{s.workers}" for s in specs) + f": {repeat} turn(s), alternating order ...")
        runs = [[] for _ in specs]
        for turn in range(repeat):
            order = list(zip(specs, runs))
            for spec, done in order if turn % 2 == 0 else reversed(order):
                done.append(run(spec.cmd, spec.env, spec.output))
        for spec, done in zip(specs, runs):
            seconds, _, _, stdout = min(done, key=lambda r: r[0])
            max_proc = max(r[1] for r in done)
            tree = max((r[2] for r in done if r[2] is not None), default=None)
            info = json.loads(stdout.strip().splitlines()[-1]) if spec.parse else {}
            jobs.append(Job(spec.tool, spec.step, spec.workers, seconds, spec.n_bytes, max_proc, tree, info.pop("inproc_s", None), info, [r[0] for r in done]))
            tries = ", ".join(f"{r[0]:.2f}" for r in done)
            log(f"    {spec.step:<6} {spec.tool:<9} w{spec.workers} {seconds:7.2f} s  {spec.n_bytes / 1e6 / seconds:7.2f} MB/s  max proc {max_proc:6.0f} MB  (runs: {tries} s)")

    def hf_env(threads):
        return {"RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false"}

    codebook, hf = tmp / "codebook.json", tmp / "hf.json"
    in_turns(Spec("ltmc", "mine", 1, [*LTMC, "mine-bonds", str(src), "-o", str(codebook), "-V", str(args.vocab_size)], codebook), repeat=1)
    in_turns(*(Spec("hf", "mine", w, [sys.executable, str(DRIVER), "train-hf", str(src), str(hf), "--vocab-size", str(args.vocab_size)], hf, hf_env(w), parse=True) for w in args.workers), repeat=1)

    def ltmc_encode(step, source, out, w, n_bytes=size, extra=(), tool="ltmc"):
        return Spec(tool, step, w, [*LTMC, "encode", str(source), "-o", str(out), "-c", str(codebook), "-w", str(w), "--force", *extra], out, n_bytes=n_bytes)

    def ltmc_decode(step, shards, out, w, n_bytes=size):
        return Spec("ltmc", step, w, [*LTMC, "decode", str(shards), "-o", str(out), "-w", str(w)], out, n_bytes=n_bytes)

    def halves(make, step, sources, out, n_bytes=size):
        """The ceiling: two independent one-worker jobs (``make``: ltmc_encode or
        ltmc_decode) at once, on sources/a and sources/b, into out/a and out/b."""
        a, b = (make(step, sources / side, out / side, 1).cmd for side in ("a", "b"))
        return Spec("ltmc-halves", step, 2, at_once(a, b), out, n_bytes=n_bytes)

    def peer(step, tool, name, source, out, w):
        return Spec(tool, step, w, [sys.executable, str(DRIVER), step, name, str(source), str(out), "--threads", str(w)], out, hf_env(w) if tool == "hf" else None, parse=True)

    # One tool's runs with 1 and 2 workers next to each other: a turn's scaling ratio
    # compares runs close in time, and with the ceiling run in the same turn.
    split_halves(src, tmp / "input-halves")
    in_turns(
        *(ltmc_encode("encode", src, tmp / f"ltmc-{w}", w) for w in args.workers),
        halves(ltmc_encode, "encode", tmp / "input-halves", tmp / "halves"),
        *(peer("encode", "tiktoken", "tiktoken", src, tmp / f"tt-{w}", w) for w in args.workers),
        *(peer("encode", "hf", f"hf:{hf}", src, tmp / f"hf-{w}", w) for w in args.workers),
    )
    if args.dask:
        in_turns(*(ltmc_encode("encode", src, tmp / f"dask-{w}", w, extra=("--engine", "dask"), tool="ltmc-dask") for w in args.workers))

    in_turns(
        *(ltmc_decode("decode", tmp / f"ltmc-{w}", tmp / f"ltmc-restored-{w}", w) for w in args.workers),
        halves(ltmc_decode, "decode", tmp / "halves", tmp / "halves-restored"),
        *(peer("decode", "tiktoken", "tiktoken", tmp / f"tt-{w}", tmp / f"tt-restored-{w}", w) for w in args.workers),
        *(peer("decode", "hf", f"hf:{hf}", tmp / f"hf-{w}", tmp / f"hf-restored-{w}", w) for w in args.workers),
    )

    # Start-up: the same commands on one short file. What they cost cannot be shared
    # between workers, and it bounds the scaling of every job (printed with the targets).
    tiny = tmp / "tiny-input"
    tiny.mkdir(exist_ok=True)
    (tiny / "one.txt").write_text("Короткий файл: одна строка, чтобы время ушло на запуск.\n", encoding="utf-8")
    tiny_size = (tiny / "one.txt").stat().st_size
    in_turns(ltmc_encode("encode-startup", tiny, tmp / "tiny-out", 1, n_bytes=tiny_size))
    in_turns(ltmc_decode("decode-startup", tmp / "tiny-out", tmp / "tiny-restored", 1, n_bytes=tiny_size))

    if args.full_mine:
        ru = require_corpus(args.corpus)
        ru_size = sum(p.stat().st_size for p in ru.rglob("*.txt"))
        in_turns(Spec("ltmc", "mine-ru", 1, [*LTMC, "mine-bonds", str(ru), "-o", str(tmp / "ru.json"), "-V", "32768"], tmp / "ru.json", n_bytes=ru_size), repeat=1)

    if args.scale_copies:
        big = tmp / "scale-input"
        big_size = repeated_corpus(require_corpus(args.corpus), args.scale_copies, big)
        log(f"scaling input: ru/ linked {args.scale_copies} times, {big_size / 1e6:.0f} MB")
        split_halves(big, tmp / "scale-halves")
        in_turns(
            *(ltmc_encode("encode-big", big, tmp / f"big-{w}", w, n_bytes=big_size) for w in args.workers),
            halves(ltmc_encode, "encode-big", tmp / "scale-halves", tmp / "big-halves", n_bytes=big_size),
        )
        in_turns(
            *(ltmc_decode("decode-big", tmp / f"big-{w}", tmp / f"big-restored-{w}", w, n_bytes=big_size) for w in args.workers),
            halves(ltmc_decode, "decode-big", tmp / "big-halves", tmp / "big-halves-restored", n_bytes=big_size),
        )
        big_shards = [tree_bytes(tmp / f"big-{w}") for w in args.workers]
        checks["ltmc_big_identical_across_workers"] = all(s == big_shards[0] for s in big_shards)
        big_original = tree_bytes(big)
        checks["ltmc_big_lossless"] = all(tree_bytes(tmp / f"big-restored-{w}") == big_original for w in args.workers)
        checks["ltmc_big_halves_lossless"] = _joined_halves(tmp / "big-halves-restored") == big_original
        del big_original  # 407 MB by default, not needed past here

    log("checking outputs ...")
    original = tree_bytes(src)
    checks["ltmc_lossless"] = all(tree_bytes(tmp / f"ltmc-restored-{w}") == original for w in args.workers)
    checks["ltmc_halves_lossless"] = _joined_halves(tmp / "halves-restored") == original
    shard_sets = [tree_bytes(tmp / f"ltmc-{w}") for w in args.workers]
    if args.dask:
        shard_sets += [tree_bytes(tmp / f"dask-{w}") for w in args.workers]
    checks["ltmc_identical_across_workers"] = all(s == shard_sets[0] for s in shard_sets)
    for tool, prefix in (("tiktoken", "tt"), ("hf", "hf")):
        restored = tree_bytes(tmp / f"{prefix}-restored-{args.workers[0]}")
        checks[f"{tool}_files_not_restored"] = sum(restored.get(k) != v for k, v in original.items())
    return jobs, checks


def _find(jobs, tool, step, workers):
    return next((j for j in jobs if (j.tool, j.step, j.workers) == (tool, step, workers)), None)


def report(jobs: list[Job], checks: dict, workers: list[int]) -> dict:
    def ratio(a, b):
        return a.mb_s / b.mb_s if a and b else None

    rows = []
    for step in ("encode", "decode", "mine"):
        for w in workers:
            lt = _find(jobs, "ltmc", step, w) or (_find(jobs, "ltmc", step, 1) if step == "mine" else None)
            tt, hf = _find(jobs, "tiktoken", step, w), _find(jobs, "hf", step, w)
            if not (lt or tt or hf):
                continue
            rows.append({"step": step, "workers": w, "ltmc": lt, "tiktoken": tt, "hf": hf, "ltmc/tiktoken": ratio(lt, tt), "ltmc/hf": ratio(lt, hf)})

    def cell(value, fmt):
        width = int(fmt.split(".")[0] or 0)
        return f"{'-':>{width}}" if value is None else format(value, fmt)

    def rss(j):
        if j is None:
            return "-"
        return f"{j.max_proc_mb:.0f}/{cell(j.tree_mb, '.0f')}"

    print("throughput, MB/s of input (whole process); ratios are ltmc ÷ peer at the same worker count")
    print("(mine: ltmc mine-bonds is single-process; its one-worker run is compared with each HF thread count)")
    header = f"{'step':<7}{'workers':>8}{'ltmc':>9}{'tiktoken':>10}{'HF':>9}{'÷tiktoken':>11}{'÷HF':>8}   peak RSS MB, max proc/tree: ltmc | tiktoken | HF"
    print(header)
    print("-" * len(header))
    for r in rows:
        lt, tt, hf = r["ltmc"], r["tiktoken"], r["hf"]
        print(
            f"{r['step']:<7}{r['workers']:>8}{cell(lt and lt.mb_s, '9.2f')}{cell(tt and tt.mb_s, '10.2f')}{cell(hf and hf.mb_s, '9.2f')}"
            f"{cell(r['ltmc/tiktoken'], '10.2f')}×{cell(r['ltmc/hf'], '7.2f')}×   {rss(lt)} | {rss(tt)} | {rss(hf)}"
        )
    extra = [j for j in jobs if j.tool == "ltmc-dask" or j.step in ("mine-ru", "encode-big", "decode-big")]
    for j in extra:
        print(f"{j.step:<11}{j.workers:>4}{j.mb_s:9.2f}   ({j.tool}, {j.bytes / 1e6:.0f} MB in {j.seconds:.1f} s, peak RSS {j.max_proc_mb:.0f}/{cell(j.tree_mb, '.0f')} MB)")
    inproc = [j for j in jobs if j.inproc_s]
    if inproc:
        print("\npeers in-process (tokenizer calls only), MB/s: " + ", ".join(f"{j.tool} {j.step} w{j.workers} {j.bytes / 1e6 / j.inproc_s:.1f}" for j in inproc))

    targets = {}
    bounds: dict[str, tuple[float, float]] = {}
    ceilings: dict[str, tuple[float, float]] = {}
    one = workers[0]
    for step in ("encode", "decode"):
        lt, tt = _find(jobs, "ltmc", step, one), _find(jobs, "tiktoken", step, 1)
        if lt and tt and one == 1:
            targets[f"{step} 1 worker ≥ {TARGETS[step]}× tiktoken"] = (lt.mb_s / tt.mb_s, lt.mb_s / tt.mb_s >= TARGETS[step])
        for where, name in (("", step), (" (big input)", f"{step}-big")):
            a, b = _find(jobs, "ltmc", name, 1), _find(jobs, "ltmc", name, 2)
            if a and b:
                # This machine's speed drifts by up to 1.5x over minutes, so the runs of one
                # turn (next to each other in time) are compared, and the median turn counts.
                paired = statistics.median(x / y for x, y in zip(a.runs, b.runs))
                label = f"{step} 2 workers ≥ {TARGETS['scaling']}× 1 worker{where}, median of {len(a.runs)} turns (best runs: {b.mb_s / a.mb_s:.2f})"
                targets[label] = (paired, paired >= TARGETS["scaling"])
                pair = _find(jobs, "ltmc-halves", name, 2)
                if pair:
                    ceiling = statistics.median(x / y for x, y in zip(a.runs, pair.runs))
                    ceilings[f"{step}{where}"] = (ceiling, paired / ceiling)
                startup = _find(jobs, "ltmc", f"{step}-startup", 1)
                if startup:
                    # Amdahl: the start-up runs once, the rest at best on both cores at once.
                    bounds[f"{step}{where}"] = (startup.seconds, a.seconds / (startup.seconds + (a.seconds - startup.seconds) / 2))
    mine_ru = _find(jobs, "ltmc", "mine-ru", 1)
    if mine_ru:
        targets[f"mine-bonds on ru/ ≤ {TARGETS['full_mine_s']:.0f} s"] = (mine_ru.seconds, mine_ru.seconds <= TARGETS["full_mine_s"])
    print("\ntargets:")
    for name, (value, ok) in targets.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value:.2f}")
    if bounds:
        print("scaling bound from start-up (a one-file job's time, which 2 workers cannot share):")
        for name, (startup, bound) in bounds.items():
            print(f"  {name}: start-up {startup:.2f} s, at most {bound:.2f}× with 2 workers")
    if ceilings:
        print("machine ceiling: 1 worker ÷ two independent 1-worker jobs on halves of the input, at once (median of the same turns):")
        for name, (ceiling, share) in ceilings.items():
            print(f"  {name}: ceiling {ceiling:.2f}×; ltmc's 2 workers reach {share:.0%} of it")
    print("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    return {
        "jobs": [{**asdict(j), "mb_s": j.mb_s} for j in jobs],
        "ratios": [{k: v for k, v in r.items() if k in ("step", "workers", "ltmc/tiktoken", "ltmc/hf")} for r in rows],
        "targets": {k: {"value": v, "pass": ok} for k, (v, ok) in targets.items()},
        "scaling_bounds": {k: {"startup_s": f, "max_scaling": b} for k, (f, b) in bounds.items()},
        "scaling_ceilings": {k: {"two_halves": c, "share_reached": r} for k, (c, r) in ceilings.items()},
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus root holding ru/ (default: ../shared/corpus)")
    parser.add_argument("--mb", type=float, default=29, help="MB of ru/prose to use, first files by sorted path (default 29)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--full-mine", action="store_true", help="also time mine-bonds on all of ru/ (issue target: ≤ 60 s)")
    parser.add_argument("--dask", action="store_true", help="also time ltmc encode --engine dask (needs ltmc[dask])")
    parser.add_argument("--repeat", type=int, default=3, help="turns of each encode and decode job: the fastest run gives throughput, the median turn the scaling (default 3)")
    parser.add_argument("--scale-copies", type=int, default=10, help="also measure scaling on ru/ linked this many times; 0: skip (default 10, ~407 MB)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    args.workers = sorted({int(w) for w in args.workers.split(",")})
    require_bench_extras()
    log(f"ltmc speed bench: {os.cpu_count()} CPUs here, affinity {len(os.sched_getaffinity(0))}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        jobs, checks = measure(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="ltmc-speed-") as tmp:
            jobs, checks = measure(args, Path(tmp))
    result = report(jobs, checks, args.workers)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if not all(v for k, v in checks.items() if k.startswith("ltmc_")):
        fail("ltmc output check failed (see checks above)", 1)


if __name__ == "__main__":
    main()
