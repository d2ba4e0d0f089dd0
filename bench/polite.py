"""A polite background service: how much of a CPU-bound foreground job's speed the daemon's
catch-up leaves it, at the priorities the systemd units give the daemon.

The foreground job is fixed work: --job-rounds products of 160x160 matrices on one thread
(BLAS held to one thread), timed inside its own process. It runs alone, then beside the real
daemon (the real model on the CPU: onnxruntime's threads and the decode threads keep every
core busy) catching up on a first start over the labelled photo sets, the daemon started:

- normal: at the job's own priority, as `autoalbum index` run by hand in the same session;
- nice: under `nice -n 19 ionice -c 3`, the units' Nice= and IOSchedulingClass=, sharing the
  job's scheduling group (no autogroup or cgroup between them);
- group 100: in a cpu cgroup of its own at the default weight, beside the job at the same:
  where the system unit stands against a desktop session (system.slice and user.slice weigh
  100 each), and any process in a session of its own under autogroup, whatever its Nice=;
- group 20, nice: in a cpu cgroup at the units' CPUWeight=20 against the job's 100, niced as
  the units do: the user unit against the desktop's apps (background.slice 30, app.slice 100).

The groups come from `systemd-run --user --scope -p CPUWeight=W` where a user manager runs,
else from a cgroup the bench makes itself (root; cgroup v1 cpu.shares = W * 1024 / 100, as
systemd maps CPUWeight=), else those cases are skipped with the reason. The cases take turns
in each of --rounds rounds, each beside a fresh first start, so a change in the machine's load
falls on all of them. Printed per case: the job's time (median) and its speed against the job
alone, the cores the daemon and everything else used meanwhile, the photos the catch-up filed
meanwhile (it commits 128 at a time) and the daemon's peak RSS. --copies 2 runs the job twice
at once, a foreground that wants every core of a 2-core machine.

--memory measures instead the daemon's peak RSS over a whole first start on the photos (and
the recluster after it), with the real model and with bench/scale.py's stand-in: what the
model adds to bench/scale.py's figures.

    .venv/bin/python bench/polite.py [--rounds 3] [--job-rounds 36000] [--copies 1]
                                     [--photos DIR ...] [--memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon_runs import CLI, REPO, cli, code_env, memory, stop_daemon, wait_for, write_config

DATASETS = REPO.parent / "shared" / "datasets"
NICE = 19  # systemd/autoalbum.service Nice=
CPU_WEIGHT = 20  # systemd/autoalbum.service CPUWeight=
DEFAULT_WEIGHT = 100  # systemd's CPUWeight= when a unit sets none
NICE_PREFIX = ("nice", "-n", str(NICE), "ionice", "-c", "3")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WARM = 320 + 2 * 128  # photos done before the job starts: past the first sample's albums
SIDE = 160
QUIET_CORES = 0.15  # a trial while other work used less than this is a quiet one
TICK = os.sysconf("SC_CLK_TCK")


# The foreground job


def foreground_job(rounds: int) -> dict[str, float]:
    """The fixed job, in this process: its wall and CPU seconds."""
    rng = np.random.default_rng(0)
    a, b = rng.random((SIDE, SIDE)), rng.random((SIDE, SIDE)) / (SIDE / 2)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        a = np.tanh(a @ b)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def run_job(rounds: int, copies: int, prefix: Sequence[str] = ()) -> dict[str, float]:
    """`copies` of the job at once, each in a process of its own on one thread (after `prefix`):
    their mean wall seconds and their CPU seconds in all."""
    command = [*prefix, sys.executable, __file__, "--job", str(rounds)]
    env = {**os.environ, **ONE_THREAD}
    jobs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE) for _ in range(copies)]
    results = [json.loads(job.communicate()[0]) for job in jobs]
    if any(job.returncode for job in jobs):
        raise SystemExit("the foreground job failed")
    walls = [float(result["wall"]) for result in results]
    return {"wall": statistics.mean(walls), "cpu": sum(float(r["cpu"]) for r in results)}


# CPU groups


@dataclass(frozen=True)
class Groups:
    """How the bench puts a daemon into a cpu group of a given CPUWeight=: a command prefix
    (systemd-run) or a cgroup folder it makes itself (`root`, with the file to weigh it by)."""

    how: str
    systemd_run: bool = False
    root: Path | None = None
    weight_file: str = ""

    def prefix(self, weight: int) -> tuple[str, ...]:
        """What starts a command in a group of its own at `weight`: a scope with systemd-run
        (the job's too, so that the two scopes are siblings), else nothing (see `folder`)."""
        if not self.systemd_run:
            return ()
        return ("systemd-run", "--user", "--scope", "--quiet", "-p", f"CPUWeight={weight}")

    @contextmanager
    def folder(self, weight: int) -> Iterator[Path | None]:
        """A fresh cgroup at `weight` for the duration (None with systemd-run)."""
        if self.root is None:
            yield None
            return
        folder = self.root / f"autoalbum-polite-{os.getpid()}-{weight}"
        folder.mkdir()
        try:
            value = weight * 1024 // 100 if self.weight_file == "cpu.shares" else weight
            (folder / self.weight_file).write_text(str(value))
            yield folder
        finally:
            folder.rmdir()


def _systemd_run_problem() -> str | None:
    """Why `systemd-run --user --scope` cannot run here, or None when it can."""
    if shutil.which("systemd-run") is None:
        return "systemd-run is not installed"
    probe = ["systemd-run", "--user", "--scope", "--quiet", "-p", f"CPUWeight={CPU_WEIGHT}"]
    done = subprocess.run([*probe, "true"], capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"


def _cgroup_root() -> Groups | None:
    """A writable cpu cgroup folder holding this process, v2 or v1, if there is one."""
    v2 = Path("/sys/fs/cgroup")
    if "cpu" in _read(v2 / "cgroup.subtree_control").split() and os.access(v2, os.W_OK):
        return Groups(f"cgroup v2 at {v2} (cpu.weight)", root=v2, weight_file="cpu.weight")
    v1 = v2 / "cpu"
    if (v1 / "cpu.shares").is_file() and os.access(v1, os.W_OK):
        how = f"cgroup v1 at {v1} (cpu.shares = CPUWeight * 1024 / 100, as systemd maps it)"
        return Groups(how, root=v1, weight_file="cpu.shares")
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def find_groups() -> Groups | None:
    """systemd-run if it works, else a cgroup of the bench's own; says which and why."""
    problem = _systemd_run_problem()
    if problem is None:
        return Groups("systemd-run --user --scope -p CPUWeight=W", systemd_run=True)
    print(f"systemd-run --user --scope does not work here: {problem}")
    groups = _cgroup_root()
    if groups is None:
        print("no writable cpu cgroup either (needs root): the group cases are skipped")
    return groups


# The daemon


@dataclass(frozen=True)
class Case:
    name: str
    prefix: tuple[str, ...] = ()
    weight: int | None = None  # in a cpu group of its own at this CPUWeight=
    daemon: bool = True


def cases(groups: Groups | None) -> list[Case]:
    listed = [Case("alone", daemon=False), Case("normal"), Case(f"nice {NICE}", NICE_PREFIX)]
    if groups is not None:
        listed.append(Case(f"group {DEFAULT_WEIGHT}", weight=DEFAULT_WEIGHT))
        listed.append(Case(f"group {CPU_WEIGHT}, nice {NICE}", NICE_PREFIX, CPU_WEIGHT))
    return listed


@dataclass(frozen=True)
class Sample:
    """The daemon and the machine at one moment."""

    done: int  # photos the catch-up has done
    catching_up: bool
    daemon_cpu: float  # seconds, every thread
    busy: float  # seconds the machine's CPUs were busy since boot


def machine_busy() -> float:
    """Seconds the machine's CPUs have been busy since boot (all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def sample(pid: int, status: Path) -> Sample:
    catch_up = json.loads(status.read_text()).get("catch_up")
    ticks = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(ticks[11]) + int(ticks[12])) / TICK  # utime, stime
    done = int(catch_up["done"]) if catch_up else 0
    caught_up = not catch_up or catch_up["done"] >= catch_up["total"]
    return Sample(done, not caught_up, cpu, machine_busy())


def _caught_up_to(status: Path, count: int) -> bool:
    try:
        catch_up = json.loads(status.read_text()).get("catch_up")
    except (OSError, ValueError):  # not written yet, or replaced while read
        return False
    return bool(catch_up) and int(catch_up["done"]) >= count


@contextmanager
def daemon(case: Case, groups: Groups | None, config: Path, env: dict[str, str]) -> Iterator[int]:
    """The daemon on a fresh first start, as `case` runs it, warmed up; yields its pid."""
    root = config.parent
    fresh_library(root)
    grouped = groups if case.weight is not None else None
    weight = case.weight or DEFAULT_WEIGHT
    cgroup = grouped.folder(weight) if grouped else nullcontext()
    with cgroup as folder, (root / "daemon.log").open("ab") as log:
        prefix = grouped.prefix(weight) if grouped else ()
        command = [*prefix, *case.prefix, *cli("run", config)]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        if folder is not None:  # before it has a second thread: they all follow
            (folder / "cgroup.procs").write_text(str(process.pid))
        try:
            _warm_up(process, root / "state" / "daemon.json", root / "daemon.log")
            yield process.pid
        finally:
            stop_daemon(process)


def _warm_up(process: subprocess.Popen[bytes], status: Path, log: Path) -> None:
    """Wait until the catch-up is past its first albums; a daemon that exits stops the bench."""

    def warm() -> bool:
        if process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"the daemon exited ({process.returncode}); its log ends:\n{tail}")
        return _caught_up_to(status, WARM)

    wait_for(warm, "the catch-up to warm up", timeout=300)


def fresh_library(root: Path) -> None:
    """No state and no albums: the next start is a first start, and its log a new one."""
    for name in ("state", "albums"):
        if (root / name).exists():
            shutil.rmtree(root / name)
    (root / "daemon.log").unlink(missing_ok=True)


# Trials


@dataclass(frozen=True)
class Trial:
    wall: float
    cpu: float
    daemon_cores: float = 0.0
    other_cores: float = 0.0
    photos: int = 0
    photos_per_s: float = 0.0
    caught_up: bool = False  # the catch-up ended during the job: the daemon stopped competing
    peak_rss: int = 0


def trial(
    case: Case, groups: Groups | None, config: Path, env: dict[str, str], rounds: int, copies: int
) -> Trial:
    if not case.daemon:
        busy, started = machine_busy(), time.perf_counter()
        job = run_job(rounds, copies)
        seconds = time.perf_counter() - started
        other = (machine_busy() - busy - job["cpu"]) / seconds
        return Trial(job["wall"], job["cpu"], other_cores=max(0.0, other))
    job_prefix = groups.prefix(DEFAULT_WEIGHT) if groups and case.weight else ()
    with daemon(case, groups, config, env) as pid:
        status = config.parent / "state" / "daemon.json"
        before, started = sample(pid, status), time.perf_counter()
        job = run_job(rounds, copies, job_prefix)
        after, seconds = sample(pid, status), time.perf_counter() - started
        daemon_cores = (after.daemon_cpu - before.daemon_cpu) / seconds
        other = (after.busy - before.busy) / seconds - daemon_cores - job["cpu"] / seconds
        return Trial(
            job["wall"], job["cpu"], daemon_cores, max(0.0, other),
            after.done - before.done, (after.done - before.done) / seconds,
            not after.catching_up, memory(pid, "VmHWM"),
        )  # fmt: skip


def report(results: dict[str, list[Trial]], title: str) -> None:
    """One line per case: medians of its trials; the speed is against the job alone."""
    alone = statistics.median(t.wall for t in results["alone"])
    print(f"\n{title}\n{'case':<18} {'job s':>6} {'speed':>6} {'range s':>12} {'daemon':>7} "
          f"{'others':>7} {'photos/s':>9} {'peak':>7} {'trials':>6}")  # fmt: skip
    for name, trials in results.items():
        wall = statistics.median(t.wall for t in trials)
        low, high = min(t.wall for t in trials), max(t.wall for t in trials)
        cores = statistics.median(t.daemon_cores for t in trials)
        others = statistics.median(t.other_cores for t in trials)
        rate = statistics.median(t.photos_per_s for t in trials)
        peak = max(t.peak_rss for t in trials) / 1024**2
        flag = "  (catch-up ended during a job)" if any(t.caught_up for t in trials) else ""
        print(f"{name:<18} {wall:6.2f} {alone / wall:6.2f} {low:5.2f}-{high:5.2f} "
              f"{cores:6.2f}c {others:6.2f}c {rate:9.1f} {peak:5.0f}MB "
              f"{len(trials):6}{flag}")  # fmt: skip


def quiet(results: dict[str, list[Trial]]) -> dict[str, list[Trial]] | None:
    """Only the trials while nothing else used the machine, if every case has one."""
    kept = {
        name: [t for t in trials if t.other_cores < QUIET_CORES] for name, trials in results.items()
    }
    return kept if all(kept.values()) else None


# Memory


STAND_IN = Path(__file__).resolve().with_name("scale_entry.py")
QUIET_S = 10.0  # after the catch-up, a peak this long unchanged is final (a recluster may follow)


def _catching_up(status: Path) -> bool:
    try:
        catch_up = json.loads(status.read_text()).get("catch_up")
    except (OSError, ValueError):  # not written yet, or replaced while read
        return False
    return bool(catch_up) and int(catch_up["done"]) < int(catch_up["total"])


def first_start_peak(command: Sequence[str], config: Path, env: dict[str, str]) -> int:
    """A whole first start of `autoalbum run` (`command`) and what follows it: peak RSS."""
    root = config.parent
    fresh_library(root)
    with (root / "daemon.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            status = root / "state" / "daemon.json"
            wait_for(lambda: _catching_up(status), "the catch-up to begin", timeout=300)
            wait_for(lambda: not _catching_up(status), "the catch-up to end", timeout=1800)
            peak, since = memory(process.pid, "VmHWM"), time.perf_counter()
            while time.perf_counter() - since < QUIET_S:
                time.sleep(0.5)
                if (now := memory(process.pid, "VmHWM")) > peak:
                    peak, since = now, time.perf_counter()
            return peak
        finally:
            stop_daemon(process)


def memory_report(config: Path, env: dict[str, str]) -> None:
    """The daemon's peak over a whole first start, with the real model and with bench/scale.py's
    stand-in: what the model adds to the stand-in's figures."""
    tail = ["run", "--config", str(config), "--device", "cpu"]
    real = first_start_peak([*CLI, *tail], config, env)
    stand_in = first_start_peak([sys.executable, str(STAND_IN), *tail], config, env)
    print(f"first start, peak RSS: real model {real / 1e9:.2f} GB, stand-in "
          f"{stand_in / 1e9:.2f} GB: the model adds {(real - stand_in) / 1e9:.2f} GB")  # fmt: skip


# Main


def photo_folders(named: Sequence[Path] | None) -> list[Path]:
    folders = list(named or [p for p in sorted(DATASETS.iterdir()) if p.is_dir()])
    if not folders:
        raise SystemExit(f"no photos: name --photos DIR or fill {DATASETS}")
    return folders


def build_model(env: dict[str, str], photo: Path) -> None:
    """Build the model into the bench's cache once, so no trial times the build."""
    command = [*CLI, "inspect", str(photo), "--device", "cpu"]
    subprocess.run(command, env=env, check=True, capture_output=True)


def first_photo(folders: Sequence[Path]) -> Path:
    for folder in folders:
        for path in sorted(folder.rglob("*.jpg")):
            return path
    raise SystemExit(f"no .jpg under {', '.join(map(str, folders))}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="trials per case (default 3)")
    parser.add_argument("--job-rounds", type=int, default=36000, help="the job's size")
    parser.add_argument(
        "--copies", type=int, default=1, help="copies of the job at once (default 1)"
    )
    parser.add_argument("--photos", type=Path, nargs="+", help="photo folders to catch up on")
    parser.add_argument(
        "--memory", action="store_true", help="only the peak RSS of a whole first start"
    )
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)  # run the job, print JSON
    return parser.parse_args()


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the daemon and clean up
    args = parse_args()
    if args.job is not None:
        print(json.dumps(foreground_job(args.job)))
        return 0
    folders = photo_folders(args.photos)
    groups = find_groups()
    print(f"cpu groups: {groups.how if groups else 'none'}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="autoalbum-polite-") as work:
        root = Path(work)
        env = code_env(AUTOALBUM_CACHE=str(root / "cache"))
        build_model(env, first_photo(folders))
        config = write_config(root, folders, watch={"reconcile_minutes": 0})
        if args.memory:
            memory_report(config, env)
            return 0
        results: dict[str, list[Trial]] = {case.name: [] for case in cases(groups)}
        for number in range(args.rounds):
            for case in cases(groups):
                result = trial(case, groups, config, env, args.job_rounds, args.copies)
                results[case.name].append(result)
                print(f"round {number + 1} {case.name}: job {result.wall:.2f} s "
                      f"(cpu {result.cpu:.2f} s), {result.photos} photos, other work "
                      f"{result.other_cores:.2f} cores", flush=True)  # fmt: skip
        report(results, "every trial")
        if (calm := quiet(results)) and calm != results:
            report(calm, f"quiet trials (other work under {QUIET_CORES} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
