"""The driver behind scripts/bench, which builds the release binaries and then runs this.

Starts logpaste (target/release/logpaste) on 127.0.0.1 with fresh databases, drives it with
wrk (scripts/bench.d/wrk.lua), and in the same rounds measures the ceilings our figures are
divided by: (a) a bare actix-web handler (examples/bench_bare_actix.rs) and (b) sqlx alone
(examples/bench_sqlx_ceiling.rs). Then, with real Litestream and moto_server (an S3 server)
on 127.0.0.1: request latency with and without replication, the time from a PUT's response
to its paste being in the bucket, restore time and time to the first healthy answer.

Every figure is the median of several runs with their min-max; every ratio is taken
within one round (the same minute), because the machine is shared and noisy. Every process
is started here and stopped here by its PID; every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ltx

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / "target" / "release"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
VENV_BIN = REPO / ".venv" / "bin"
ID_ALPHABET = string.ascii_letters + string.digits
KIB = 1024
MIB = 1024 * 1024
# What a delayed acknowledgement costs on Linux: a response that waits for one shows it.
DELAYED_ACK_US = 40_000
# The replica's sync interval the bench configures (the container's default too).
SYNC_INTERVAL_S = 1.0
IMAGE_LITESTREAM_YML = REPO / "litestream.yml"


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    quick: bool
    runs: int
    seconds: float
    connections: int
    threads: int
    pastes: int
    big_connections: int
    big_seconds: float
    big_pastes: int
    stall_runs: int
    stall_seconds: float
    replication_runs: int
    lag_samples: int
    healthz_runs: int
    restore_runs: int
    only: str | None
    keep: bool
    json_out: Path


def parse_settings(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Measure logpaste against its ceilings and print a table (see BENCHMARKS.md).",
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run: figures are not comparable")
    parser.add_argument("--runs", type=int, help="rounds per scenario (default 5; quick 2)")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 5; quick 2)")
    parser.add_argument("--pastes", type=int, help="pastes preloaded for random GETs (default 100000)")
    parser.add_argument("--only", choices=("speed", "replication"),
                        help="run one part: speed (HTTP and ceilings) or replication (Litestream)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, logs)")
    parser.add_argument("--json", type=Path, default=REPO / "target" / "bench" / "results.json",
                        help="where to write every figure as JSON (default target/bench/results.json)")
    args = parser.parse_args(argv)
    quick = args.quick
    settings = Settings(
        quick=quick,
        runs=args.runs or (2 if quick else 5),
        seconds=args.seconds or (2.0 if quick else 5.0),
        connections=64,
        threads=2,
        pastes=args.pastes or (20_000 if quick else 100_000),
        big_connections=8,
        big_seconds=2.0 if quick else 3.0,
        big_pastes=16,
        stall_runs=2 if quick else 3,
        stall_seconds=1.0 if quick else 2.0,
        replication_runs=2 if quick else 3,
        lag_samples=8 if quick else 40,
        healthz_runs=2 if quick else 5,
        restore_runs=2 if quick else 3,
        only=args.only,
        keep=args.keep,
        json_out=args.json,
    )
    if settings.runs < 1 or settings.seconds <= 0 or settings.pastes < 100:
        parser.error("--runs must be at least 1, --seconds positive, --pastes at least 100")
    return settings


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


class Processes:
    """Every process the bench starts, so each one is stopped by its PID whatever happens."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 20.0) -> int:
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                say(f"pid {proc.pid} ignored SIGTERM for {grace:.0f}s; killing it")
                proc.kill()
                proc.wait(10)
        if proc in self.running:
            self.running.remove(proc)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc, grace=5.0)


def clean_env(drop_aws: bool = False) -> dict[str, str]:
    """The environment without settings that would change what is measured."""
    env = {}
    for key, value in os.environ.items():
        if key.startswith("LP_") or key in ("PORT", "DB_PATH", "DB_REPLICA_URL", "RUST_LOG"):
            continue
        # Litestream 0.5 fails on a custom endpoint when AWS_CA_BUNDLE is set.
        if drop_aws and key.startswith("AWS_"):
            continue
        env[key] = value
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, check, timeout: float, interval: float = 0.05):
    """Calls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def request(port: int, method: str, path: str, body: bytes | None = None,
            timeout: float = 30.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def healthy(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz", timeout=2.0)[0] == 200
    except OSError:
        return False


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    figures = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = int(value.split()[0])
    return figures


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time (user + system) of this script's finished children, such as wrk runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(pid: int, name: str, timeout: float = 60.0) -> None:
    """Waits until the process uses under a tenth of a core over half a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return
    say(f"  {name} still busy after {timeout:.0f}s; measuring anyway")


class App:
    """One logpaste process on 127.0.0.1."""

    def __init__(self, procs: Processes, work: Path, name: str, db: Path,
                 extra_env: dict[str, str] | None = None, port: int = 0) -> None:
        self.procs = procs
        self.name = name
        self.db = db
        self.log = work / f"{name}.log"
        env = clean_env()
        env.update(extra_env or {})
        argv = [str(RELEASE / "logpaste"), "--host", "127.0.0.1", "--port", str(port),
                "--db-path", str(db)]
        self.proc = procs.start(argv, self.log, env)
        self.port = port or wait_until(f"{name} to log its port", self._logged_port, 30)
        wait_until(f"{name} /healthz", lambda: healthy(self.port), 30)

    def _logged_port(self) -> int | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
        match = re.search(r"logpaste started.*?\bport=(\d+)", self.log.read_text(errors="replace"))
        return int(match.group(1)) if match else None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def memory(self) -> dict[str, int]:
        return memory_kib(self.proc.pid)

    def stop(self) -> int:
        code = self.procs.stop(self.proc)
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code} on SIGTERM; see {self.log}")
        return code


# --------------------------------------------------------------------------- load


def wrk(url: str, seconds: float, connections: int, threads: int, **bench_env) -> dict:
    """One wrk run with wrk.lua; returns its figures, with `rps` added."""
    env = dict(os.environ)
    env.update({f"BENCH_{key.upper()}": str(value) for key, value in bench_env.items()})
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(WRK_SCRIPT), url]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["error_count"] = sum(result["errors"].values())
    if result["error_count"]:
        say(f"  wrk saw errors on {url}: {result['errors']}")
    return result


def sqlx_ceiling(mode: str, db: Path, seconds: float, ids: Path | None = None) -> dict:
    argv = [str(RELEASE / "examples" / "bench_sqlx_ceiling"), "--mode", mode, "--db", str(db),
            "--seconds", str(seconds), "--tasks", "64"]
    if ids:
        argv += ["--ids", str(ids)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"bench_sqlx_ceiling failed: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- data


def log_text(rng: random.Random, size: int, tag: str) -> str:
    """Log-like text of exactly `size` bytes: what people paste, compressible as logs are."""
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    words = ("request", "handled", "user", "session", "cache", "miss", "retry", "upstream",
             "timeout", "connected", "closed", "queue", "job", "done", "payload", "bytes")
    lines, length = [f"paste {tag}\n"], len(tag) + 7
    while length < size:
        line = (f"2025-01-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z {rng.choice(levels)} "
                f"{' '.join(rng.choices(words, k=rng.randint(3, 8)))} id={rng.getrandbits(32):08x} "
                f"ms={rng.randint(0, 5000)}\n")
        lines.append(line)
        length += len(line)
    return "".join(lines)[:size]


def new_id(rng: random.Random) -> str:
    return "".join(rng.choices(ID_ALPHABET, k=8))


def preload(procs: Processes, work: Path, db: Path, count: int, rng: random.Random) -> list[str]:
    """Fills a database with `count` 1 KiB pastes straight through SQLite, in the table the
    app creates (it runs once first, so its migrations shape the schema)."""
    App(procs, work, "schema", db).stop()
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(new_id(rng))
    ordered = sorted(ids, key=lambda _: rng.random())
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    connection = sqlite3.connect(db)
    with connection:
        connection.executemany(
            "INSERT INTO entries (id, creation_time, contents) VALUES (?, ?, ?)",
            ((paste_id, created, log_text(rng, KIB, paste_id)) for paste_id in ordered))
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return ordered


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(f"{paste_id}\n" for paste_id in ids))
    return path


def stored_contents(db: Path, paste_id: str) -> bytes | None:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = connection.execute("SELECT CAST(contents AS BLOB) FROM entries WHERE id = ?",
                                 (paste_id,)).fetchone()
        return row[0] if row else None
    finally:
        connection.close()


def row_count(db: Path) -> int:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM entries").fetchone()[0]
    finally:
        connection.close()


def put(port: int, body: bytes) -> str:
    status, answer = request(port, "PUT", "/", body)
    if status != 200:
        raise RuntimeError(f"PUT answered {status}: {answer[:200]!r}")
    return json.loads(answer)["id"]


# --------------------------------------------------------------------------- figures


@dataclass
class Series:
    """Figures of one quantity over several runs."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def json(self) -> dict:
        return {"median": self.median, "min": min(self.values), "max": max(self.values),
                "runs": self.values}


class Figures:
    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.facts: dict[str, object] = {}

    def add(self, name: str, value: float) -> None:
        self.series.setdefault(name, Series()).add(value)

    def get(self, name: str) -> Series | None:
        return self.series.get(name)

    def json(self) -> dict:
        return {"series": {k: v.json() for k, v in self.series.items()}, "facts": self.facts}


def record_wrk(figures: Figures, name: str, result: dict) -> None:
    latency = result["latency_us"]
    figures.add(f"{name}.rps", result["rps"])
    figures.add(f"{name}.p50_ms", latency["p50"] / 1000)
    figures.add(f"{name}.p99_ms", latency["p99"] / 1000)
    figures.add(f"{name}.max_ms", latency["max"] / 1000)
    figures.add(f"{name}.errors", result["error_count"])
    figures.add(f"{name}.share_40ms", result["share_at_or_above_40ms"])


# --------------------------------------------------------------------------- part 1: speed


@dataclass
class Corpus:
    """The preloaded database (never served from: each user gets a copy) and its ids."""

    db: Path
    ids: list[str]
    ids_file: Path

    def copy_to(self, db: Path) -> Path:
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.db, db)
        return db


def make_corpus(settings: Settings, procs: Processes, work: Path, figures: Figures,
                rng: random.Random) -> Corpus:
    say(f"preloading {settings.pastes} pastes of 1 KiB")
    started = time.monotonic()
    db = work / "corpus" / "store.db"
    ids = preload(procs, work, db, settings.pastes, rng)
    figures.facts["preload_seconds"] = round(time.monotonic() - started, 2)
    figures.facts["preloaded_db_bytes_per_paste"] = db.stat().st_size / len(ids)
    return Corpus(db, ids, write_ids(work / "ids.txt", ids))


def measure_speed(settings: Settings, procs: Processes, work: Path, figures: Figures,
                  rng: random.Random, corpus: Corpus) -> None:
    seconds, conns, threads = settings.seconds, settings.connections, settings.threads
    read_db = corpus.copy_to(work / "read" / "store.db")
    ids, ids_file = corpus.ids, corpus.ids_file

    bare_proc = procs.start([str(RELEASE / "examples" / "bench_bare_actix")], work / "bare.log",
                            clean_env())
    bare_port = int(wait_until("bench_bare_actix port", lambda: re.search(
        r"port=(\d+)", (work / "bare.log").read_text()), 30).group(1))
    reader = App(procs, work, "app-read", read_db)
    writer = App(procs, work, "app-put", work / "put" / "store.db")
    time.sleep(1.0)
    for app, label in ((reader, "read"), (writer, "put")):
        memory = app.memory()
        figures.facts[f"rss_idle_kib.{label}"] = memory["VmRSS"]
        figures.facts[f"hwm_idle_kib.{label}"] = memory["VmHWM"]

    # Correctness first: a figure for wrong answers is worth nothing.
    for paste_id in rng.sample(ids, 20):
        status, body = request(reader.port, "GET", f"/{paste_id}")
        if status != 200 or body != stored_contents(read_db, paste_id):
            raise RuntimeError(f"GET /{paste_id} does not return the stored paste")
    probe = log_text(rng, KIB, "probe").encode()
    probe_id = put(writer.port, probe)
    if request(writer.port, "GET", f"/{probe_id}") != (200, probe):
        raise RuntimeError("a PUT paste does not read back unchanged")
    hot_id = ids[0]

    for round_number in range(1, settings.runs + 1):
        say(f"round {round_number}/{settings.runs}")
        record_wrk(figures, "bare_get", wrk(f"http://127.0.0.1:{bare_port}/{hot_id}", seconds, conns, threads))
        record_wrk(figures, "get_hot", wrk(reader.url(f"/{hot_id}"), seconds, conns, threads))
        ceiling = sqlx_ceiling("read", read_db, seconds, ids_file)
        ceiling_cores = ceiling["cpu_seconds"] / ceiling["seconds"]
        figures.add("sqlx_read.rps", ceiling["per_second"])
        figures.add("sqlx_read.cores", ceiling_cores)
        # Where the cores went: the ceiling has both to itself, the app shares them with wrk.
        app_cpu, wrk_cpu, started = cpu_seconds(reader.proc.pid), children_cpu_seconds(), time.monotonic()
        get_random = wrk(reader.url(), seconds, conns, threads, ids=ids_file)
        elapsed = time.monotonic() - started
        app_cores = (cpu_seconds(reader.proc.pid) - app_cpu) / elapsed
        record_wrk(figures, "get_random", get_random)
        figures.add("get_random.app_cores", app_cores)
        figures.add("get_random.wrk_cores", (children_cpu_seconds() - wrk_cpu) / elapsed)
        figures.add("ratio.get_random_vs_sqlx_read_per_core",
                    (get_random["rps"] / app_cores) / (ceiling["per_second"] / ceiling_cores))
        ceiling_db = work / f"ceiling-{round_number}.db"
        figures.add("sqlx_insert.rps", sqlx_ceiling("insert", ceiling_db, seconds)["per_second"])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ceiling_db}{suffix}").unlink(missing_ok=True)
        record_wrk(figures, "put_1k", wrk(writer.url(), seconds, conns, threads, mode="put"))
        record_wrk(figures, "mixed", wrk(reader.url(), seconds, conns, threads, mode="mixed", ids=ids_file))
        measure_big_pastes(settings, procs, work, figures, rng, round_number)
        for app, label in ((reader, "read"), (writer, "put")):
            figures.add(f"hwm_kib.{label}", app.memory()["VmHWM"])
        figures.add("ratio.put_vs_sqlx_insert",
                    figures.get("put_1k.rps").values[-1] / figures.get("sqlx_insert.rps").values[-1])
        figures.add("ratio.get_hot_vs_bare",
                    figures.get("get_hot.rps").values[-1] / figures.get("bare_get.rps").values[-1])
        figures.add("ratio.get_random_vs_sqlx_read",
                    figures.get("get_random.rps").values[-1] / figures.get("sqlx_read.rps").values[-1])

    say("stall check: one connection, one request at a time")
    for _ in range(settings.stall_runs):
        for name, url, extra in (
            ("c1_get_hot", reader.url(f"/{hot_id}"), {}),
            ("c1_get_random", reader.url(), {"ids": ids_file}),
            ("c1_put_1k", writer.url(), {"mode": "put"}),
        ):
            record_wrk(figures, name, wrk(url, settings.stall_seconds, 1, 1, **extra))

    time.sleep(2.0)
    for app, label in ((reader, "read"), (writer, "put")):
        figures.facts[f"rss_after_load_kib.{label}"] = app.memory()["VmRSS"]
    procs.stop(bare_proc)
    reader.stop()
    writer.stop()
    # After a clean stop SQLite has checkpointed: the file holds everything.
    written = row_count(writer.db)
    figures.facts["app_db_pastes"] = written
    figures.facts["app_db_bytes_per_paste"] = writer.db.stat().st_size / written


def measure_big_pastes(settings: Settings, procs: Processes, work: Path, figures: Figures,
                       rng: random.Random, round_number: int) -> None:
    """2 MiB pastes (the default limit) on a fresh database each round: a few GiB per round
    would otherwise pile up."""
    folder = work / f"big-{round_number}"
    app = App(procs, work, f"app-big-{round_number}", folder / "store.db")
    body = log_text(rng, 2 * MIB, "big").encode()
    big_ids = [put(app.port, body) for _ in range(settings.big_pastes)]
    ids_file = write_ids(work / "big-ids.txt", big_ids)
    conns = settings.big_connections
    record_wrk(figures, "put_2m", wrk(app.url(), settings.big_seconds, conns, settings.threads,
                                      mode="put", body_bytes=2 * MIB))
    record_wrk(figures, "get_2m", wrk(app.url(), settings.big_seconds, conns, settings.threads,
                                      ids=ids_file))
    # The stall check for large bodies: written in many pieces, the last one small.
    record_wrk(figures, "c1_get_2m", wrk(app.url(), settings.stall_seconds, 1, 1, ids=ids_file))
    figures.add("hwm_kib.big", app.memory()["VmHWM"])
    app.stop()
    shutil.rmtree(folder)


# --------------------------------------------------------------------------- part 2: replication


class Moto:
    """moto_server on 127.0.0.1 and a boto3 client for it."""

    BUCKET = "logpaste-bench"

    def __init__(self, procs: Processes, work: Path) -> None:
        import boto3  # the repository's .venv has it (moto depends on it)
        from botocore.config import Config

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # moto stands in for S3, which in production runs on someone else's machines: at the
        # lowest priority it yields this machine's two cores to what a server runs (the app,
        # and Litestream at the normal priority the image gives it). At normal priority its
        # bursts alone made the paced p99 with replication ~0.4 ms worse (BENCHMARKS.md).
        # `nice` execs moto_server: the PID stays moto's, for the CPU figures.
        self.proc = procs.start(["nice", "-n", "19", str(VENV_BIN / "moto_server"), "-H", "127.0.0.1",
                                 "-p", str(self.port)],
                                work / "moto.log", clean_env(drop_aws=True))
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                               aws_access_key_id="bench", aws_secret_access_key="bench",
                               config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

        def bucket_created() -> bool:
            try:
                self.s3.create_bucket(Bucket=self.BUCKET)
                return True
            except Exception:  # not listening yet
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited; see {work / 'moto.log'}")
                return False

        wait_until("moto_server", bucket_created, 60, interval=0.2)

    def keys(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix`, with its size."""
        found, token = {}, None
        while True:
            page = self.s3.list_objects_v2(Bucket=self.BUCKET, Prefix=prefix,
                                           **({"ContinuationToken": token} if token else {}))
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
            if not page.get("IsTruncated"):
                return found
            token = page["NextContinuationToken"]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.BUCKET, Key=key)["Body"].read()


def litestream_config(work: Path, name: str, db: Path, moto: Moto, prefix: str) -> Path:
    """The image's litestream.yml with the variables the container sets filled in: this
    database, a replica on moto, DB_SYNC_INTERVAL 1 s. What is measured is the schedule
    the image ships, not a stand-in."""
    values = {
        "DB_PATH": str(db),
        "DB_REPLICA_URL": f"s3://{Moto.BUCKET}/{prefix}",
        "LITESTREAM_ACCESS_KEY_ID": "bench",
        "LITESTREAM_SECRET_ACCESS_KEY": "bench",
        "LITESTREAM_REGION": "us-east-1",
        "LITESTREAM_ENDPOINT": moto.endpoint,
        "DB_SYNC_INTERVAL": f"{SYNC_INTERVAL_S:g}s",
    }

    def fill(match: re.Match) -> str:
        if match.group(1) not in values:
            raise RuntimeError(f"litestream.yml uses ${{{match.group(1)}}}, which the bench does not set")
        return values[match.group(1)]

    # Comment lines may mention ${VAR}: Litestream expands them too, to no effect.
    text = "".join(line if line.lstrip().startswith("#") else re.sub(r"\$\{(\w+)\}", fill, line)
                   for line in IMAGE_LITESTREAM_YML.read_text().splitlines(keepends=True))
    path = work / f"litestream-{name}.yml"
    path.write_text(f"# Generated by scripts/bench from {IMAGE_LITESTREAM_YML.name}.\n{text}")
    return path


def litestream(procs: Processes, work: Path, name: str, *args: str) -> subprocess.Popen:
    return procs.start([str(VENV_BIN / "litestream"), *args], work / f"litestream-{name}.log",
                       clean_env(drop_aws=True))


def litestream_run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run([str(VENV_BIN / "litestream"), *args], capture_output=True, text=True,
                          env=clean_env(drop_aws=True), timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"litestream {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


class BucketWatcher:
    """Finds when each watched paste reaches the bucket. One thread lists the replica's
    level-0 LTX files every `interval` and downloads each new one; another decodes them and
    looks for watched paste ids in their database pages, so slow decoding never slows the
    listing. A paste counts as arrived at the end of the first listing that showed a file
    holding it: an upper bound, since it arrived after the listing before began."""

    def __init__(self, moto: Moto, prefix: str, interval: float = 0.05) -> None:
        # Litestream 0.5 keeps level-0 files under <path>/0000/.
        self.moto, self.level0, self.interval = moto, f"{prefix}0000/", interval
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.known: set[str] = set(moto.keys(self.level0))
        self.downloaded: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self.files: list[tuple[float, ltx.LtxFile]] = []  # (listing end, file), last minute
        self.pending: set[str] = set()
        # paste id -> (listing end, monotonic; creation time of the LTX file, wall clock)
        self.arrived: dict[str, tuple[float, float]] = {}
        self.listing_seconds = Series()
        self.listing_gaps = Series()  # the resolution of the arrival times
        self.last_listed: float | None = None
        self.failure: Exception | None = None
        self.threads = [threading.Thread(target=self._guard, args=(work,), daemon=True)
                        for work in (self._list, self._decode)]
        for thread in self.threads:
            thread.start()

    def watch(self, paste_id: str) -> None:
        with self.lock:
            for seen_at, ltx_file in self.files:  # it may have arrived before we knew its id
                if ltx_file.contains(paste_id.encode()):
                    self.arrived[paste_id] = (seen_at, ltx_file.timestamp_ms / 1000)
                    return
            self.pending.add(paste_id)

    def _guard(self, work) -> None:
        try:
            work()
        except Exception as err:  # reported by the caller, whose waits are bounded
            self.failure = err
            self.stopping.set()

    def _list(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            keys = self.moto.keys(self.level0)
            listed = time.monotonic()
            self.listing_seconds.add(listed - began)
            if self.last_listed is not None:
                self.listing_gaps.add(listed - self.last_listed)
            self.last_listed = listed
            for key in sorted(set(keys) - self.known):
                self.known.add(key)
                self.downloaded.put((listed, self.moto.read(key)))
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def _decode(self) -> None:
        while not self.stopping.is_set():
            try:
                seen_at, data = self.downloaded.get(timeout=0.1)
            except queue.Empty:
                continue
            ltx_file = ltx.parse(data)
            with self.lock:
                self.files = [(t, f) for t, f in self.files if seen_at - t < 60]
                self.files.append((seen_at, ltx_file))
                for paste_id in [p for p in self.pending if ltx_file.contains(p.encode())]:
                    self.pending.discard(paste_id)
                    self.arrived[paste_id] = (seen_at, ltx_file.timestamp_ms / 1000)
            self.downloaded.task_done()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)


def sample_replication_lag(app: App, watcher: BucketWatcher, samples: int, segments: int,
                           restart_litestream, rng: random.Random, label: str,
                           figures: Figures) -> None:
    """PUTs `samples` pastes at random intervals and records each one's time to the bucket.
    Litestream makes LTX files on one 1 s ticker and uploads them on another; how the two
    line up is set when it starts. So the samples come in `segments`, Litestream restarted
    before each (once every paste so far has arrived): the figures cover several line-ups."""
    answered: dict[str, tuple[float, float]] = {}  # id -> (response: monotonic, wall clock)

    def wait_for_arrivals() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and watcher.failure is None:
            with watcher.lock:
                if all(p in watcher.arrived for p in answered):
                    return
            time.sleep(0.1)

    for number in range(samples):
        if number % max(1, samples // segments) == 0:
            wait_for_arrivals()
            restart_litestream()
        body = log_text(rng, KIB, f"lag-{label}-{number}-{rng.getrandbits(64):016x}").encode()
        paste_id = put(app.port, body)
        answered[paste_id] = (time.monotonic(), time.time())
        watcher.watch(paste_id)
        time.sleep(rng.uniform(0.2, 1.2))  # spread over Litestream's ticks
    wait_for_arrivals()
    if watcher.failure:
        raise RuntimeError(f"watching the bucket failed: {watcher.failure!r}")
    with watcher.lock:
        arrived = {p: watcher.arrived[p] for p in answered if p in watcher.arrived}
    lags = [arrived[p][0] - answered[p][0] for p in arrived]
    # Where the time goes: until Litestream wrote the LTX file holding the paste (its
    # header's timestamp), then until the file was listed in the bucket.
    to_ltx = [arrived[p][1] - answered[p][1] for p in arrived]
    if to_ltx:
        figures.facts[f"lag.{label}.to_ltx_file_p50_s"] = statistics.median(to_ltx)
        figures.facts[f"lag.{label}.ltx_file_to_bucket_p50_s"] = statistics.median(
            lag - ltx for lag, ltx in zip(lags, to_ltx))
    missing = len(answered) - len(lags)
    figures.facts[f"lag.{label}.samples"] = len(answered)
    figures.facts[f"lag.{label}.missing_after_30s"] = missing
    # A paste never seen counts as the bound we waited: the percentiles stay honest.
    lags += [30.0] * missing
    lags.sort()
    figures.facts[f"lag.{label}.p50_s"] = statistics.median(lags)
    figures.facts[f"lag.{label}.p99_s"] = percentile(lags, 99)
    figures.facts[f"lag.{label}.max_s"] = lags[-1]
    figures.facts[f"lag.{label}.all_s"] = [round(x, 3) for x in lags]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile: with few samples, p99 is the largest but rarely more."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def measure_replication(settings: Settings, procs: Processes, work: Path, figures: Figures,
                        rng: random.Random, corpus: Corpus) -> None:
    say("starting moto_server (S3) on 127.0.0.1")
    moto = Moto(procs, work)
    seconds, conns, threads = settings.seconds, settings.connections, settings.threads

    # The same app build on two fresh databases, one replicated.
    plain = App(procs, work, "app-plain", work / "plain" / "store.db")
    replicated_db = work / "replicated" / "store.db"
    replica_url = f"s3://{Moto.BUCKET}/replicated"
    replicated = App(procs, work, "app-replicated", replicated_db,
                     extra_env={"DB_REPLICA_URL": replica_url})
    config = litestream_config(work, "replicated", replicated_db, moto, "replicated")
    replicator = litestream(procs, work, "replicated", "replicate", "-config", str(config))
    wait_until("Litestream's first upload", lambda: moto.keys("replicated/"), 60, interval=0.2)

    put_ids = write_ids(work / "lag-ids.txt", [put(replicated.port, b"seed paste\n")])
    plain_ids = write_ids(work / "plain-ids.txt", [put(plain.port, b"seed paste\n")])

    # First, while the replica is fresh: after the write floods below, Litestream spends
    # a while compacting and uploading what they wrote, which is another measurement.
    say("time from a PUT's response to the paste in the bucket")
    watcher = BucketWatcher(moto, "replicated/")

    def restart_litestream() -> None:
        nonlocal replicator
        procs.stop(replicator)
        replicator = litestream(procs, work, "replicated", "replicate", "-config", str(config))
        time.sleep(1.0)  # let it open the database and find its position

    segments = 2 if settings.quick else 4
    try:
        sample_replication_lag(replicated, watcher, settings.lag_samples, segments, restart_litestream,
                               rng, "idle", figures)
        say("  again under paced mixed load")
        background = subprocess.Popen(
            ["wrk", "-t", "2", "-c", "64", "-d", f"{int(settings.lag_samples * 0.7 + segments * 4 + 10)}s",
             "--timeout", "10s", "-s", str(WRK_SCRIPT), replicated.url()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "BENCH_MODE": "mixed", "BENCH_IDS": str(put_ids), "BENCH_DELAY_MS": "10"})
        try:
            sample_replication_lag(replicated, watcher, settings.lag_samples, segments, restart_litestream,
                                   rng, "loaded", figures)
        finally:
            if background.poll() is None:
                background.terminate()
            background.wait(30)
        figures.facts["lag.listing_ms_median"] = watcher.listing_seconds.median * 1000
        figures.facts["lag.listing_gap_ms_median"] = watcher.listing_gaps.median * 1000
        figures.facts["lag.listing_gap_ms_max"] = max(watcher.listing_gaps.values) * 1000
    finally:
        watcher.stop()

    # Latency with and without replication, the two apps taking turns. Paced load: 64
    # connections each pausing 10 ms between requests, below saturation, so latency is
    # the service's and not a queue's; then a write flood. Each run starts once
    # Litestream has shipped what the previous one wrote.
    for round_number in range(1, settings.replication_runs + 1):
        say(f"replication latency round {round_number}/{settings.replication_runs}")
        order = [("plain", plain, plain_ids), ("replicated", replicated, put_ids)]
        if round_number % 2 == 0:
            order.reverse()
        for label, app, ids_file in order:
            for name, extra in (("mixed_paced", {"mode": "mixed", "ids": ids_file, "delay_ms": 10}),
                                ("put_1k", {"mode": "put"})):
                wait_for_quiet(replicator.pid, "Litestream")
                before = (time.monotonic(), cpu_seconds(replicator.pid), cpu_seconds(moto.proc.pid))
                record_wrk(figures, f"{label}.{name}", wrk(app.url(), seconds, conns, threads, **extra))
                if label == "replicated":
                    # The replication side's share of the 2 cores while the app was loaded.
                    elapsed = time.monotonic() - before[0]
                    figures.add(f"replicated.{name}.litestream_cores",
                                (cpu_seconds(replicator.pid) - before[1]) / elapsed)
                    figures.add(f"replicated.{name}.moto_cores",
                                (cpu_seconds(moto.proc.pid) - before[2]) / elapsed)
        for name in ("mixed_paced", "put_1k"):
            for quantile in ("p50", "p99"):
                figures.add(f"ratio.replicated_vs_plain.{name}.{quantile}",
                            figures.get(f"replicated.{name}.{quantile}_ms").values[-1]
                            / figures.get(f"plain.{name}.{quantile}_ms").values[-1])
    if replicator.poll() is not None:
        raise RuntimeError(f"Litestream stopped during the load; see {work / 'litestream-replicated.log'}")
    procs.stop(plain.proc)
    replicated.stop()
    procs.stop(replicator)

    measure_restore(settings, procs, work, figures, moto, corpus)
    measure_first_healthz(settings, procs, work, figures, moto)


def measure_restore(settings: Settings, procs: Processes, work: Path, figures: Figures,
                    moto: Moto, corpus: Corpus) -> None:
    say(f"restore time of a {settings.pastes}-paste database")
    db = corpus.copy_to(work / "restore-source" / "store.db")
    figures.facts["restore.db_bytes"] = db.stat().st_size
    config = litestream_config(work, "restore", db, moto, "restore")
    replicator = litestream(procs, work, "restore", "replicate", "-config", str(config))
    # Replicated once the listing stops changing and a restore holds every paste.
    previous: dict[str, int] = {}

    def settled() -> bool:
        nonlocal previous
        current = moto.keys("restore/")
        done = bool(current) and current == previous
        previous = current
        return done

    wait_until("the initial upload to settle", settled, 300, interval=2.0)
    procs.stop(replicator)
    figures.facts["restore.bucket_bytes"] = sum(moto.keys("restore/").values())
    for run in range(settings.restore_runs):
        target = work / f"restored-{run}.db"
        started = time.monotonic()
        litestream_run("restore", "-config", str(config), "-o", str(target), str(db), timeout=600)
        figures.add("restore.seconds", time.monotonic() - started)
        restored = row_count(target)
        if restored != settings.pastes:
            raise RuntimeError(f"the restored database holds {restored} pastes, not {settings.pastes}")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)


def measure_first_healthz(settings: Settings, procs: Processes, work: Path, figures: Figures,
                          moto: Moto) -> None:
    """The container's start on an empty bucket: restore (nothing to restore), then
    Litestream and the app, until /healthz first answers 200."""
    say("time from start to the first healthy answer, on an empty bucket")
    for run in range(settings.healthz_runs):
        db = work / f"fresh-{run}" / "store.db"
        config = litestream_config(work, f"fresh-{run}", db, moto, f"fresh-{run}")
        port = free_port()
        started = time.monotonic()
        litestream_run("restore", "-config", str(config), "-if-db-not-exists", "-if-replica-exists",
                       str(db), timeout=60)
        restored = time.monotonic()
        replicator = litestream(procs, work, f"fresh-{run}", "replicate", "-config", str(config))
        env = clean_env()
        env["DB_REPLICA_URL"] = f"s3://{Moto.BUCKET}/fresh-{run}"
        app_log = work / f"app-fresh-{run}.log"
        app = procs.start([str(RELEASE / "logpaste"), "--host", "127.0.0.1", "--port", str(port),
                           "--db-path", str(db)], app_log, env)
        wait_until("the first healthy answer", lambda: healthy(port), 60, interval=0.005)
        healthy_at = time.monotonic()
        figures.add("start.restore_step_s", restored - started)
        figures.add("start.to_healthz_s", healthy_at - started)
        if procs.stop(app) != 0:
            raise RuntimeError(f"logpaste did not stop cleanly; see {app_log}")
        procs.stop(replicator)


# --------------------------------------------------------------------------- report


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kib = int(info.readline().split()[1])
    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / MIB, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
        "rustc": version(["rustc", "--version"]),
        "wrk": version(["wrk", "--version"]),
        "litestream": version([str(VENV_BIN / "litestream"), "version"]),
        "git_commit": version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def spread(series: Series | None, unit: str = "", digits: int = 0) -> str:
    if series is None or not series.values:
        return "-"
    def fmt(value: float) -> str:
        return f"{value:,.{digits}f}"
    return f"{fmt(series.median)}{unit} ({fmt(min(series.values))}–{fmt(max(series.values))})"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(settings: Settings, figures: Figures) -> str:
    s, f = figures.get, figures.facts
    rows: list[tuple[str, str, str, str]] = []

    def row(scenario: str, measured: str, ratio: str = "", target: str = "") -> None:
        rows.append((scenario, measured, ratio, target))

    def rps_p99(name: str) -> str:
        return f"{spread(s(f'{name}.rps'))} req/s, p99 {spread(s(f'{name}.p99_ms'), ' ms', 1)}"

    if s("bare_get.rps"):
        put_ratio, hot_ratio, rnd_ratio = (s("ratio.put_vs_sqlx_insert"), s("ratio.get_hot_vs_bare"),
                                           s("ratio.get_random_vs_sqlx_read"))
        row("(a) bare actix-web, GET 1 KiB, c64", rps_p99("bare_get"))
        row("(b) sqlx single-row inserts, 64 tasks", f"{spread(s('sqlx_insert.rps'))} rows/s")
        row("(b) sqlx primary-key reads, 64 tasks", f"{spread(s('sqlx_read.rps'))} rows/s")
        row("PUT 1 KiB, c64", rps_p99("put_1k"), f"{spread(put_ratio, '', 2)} × (b) insert",
            f">= 1 × (b): {verdict(put_ratio.median >= 1)}; "
            f"p99 < 10 ms: {verdict(s('put_1k.p99_ms').median < 10)}")
        row("GET one hot paste, c64", rps_p99("get_hot"), f"{spread(hot_ratio, '', 2)} × (a)",
            f">= 0.5 × (a): {verdict(hot_ratio.median >= 0.5)}; "
            f"p99 < 5 ms: {verdict(s('get_hot.p99_ms').median < 5)}")
        row(f"GET random of {settings.pastes:,}, c64", rps_p99("get_random"),
            f"{spread(rnd_ratio, '', 2)} × (b) read",
            f">= 1 × (b): {verdict(rnd_ratio.median >= 1)}; "
            f"p99 < 5 ms: {verdict(s('get_random.p99_ms').median < 5)}")
        row("  cores used: GET random (app + wrk) / (b) read",
            f"{spread(s('get_random.app_cores'), '', 2)} + {spread(s('get_random.wrk_cores'), '', 2)} / "
            f"{spread(s('sqlx_read.cores'), '', 2)} of 2",
            f"per core used: {spread(s('ratio.get_random_vs_sqlx_read_per_core'), '', 2)} × (b) read")
        row("mixed 90% GET / 10% PUT, c64", rps_p99("mixed"))
        row(f"PUT 2 MiB, c{settings.big_connections}",
            f"{rps_p99('put_2m')}, {s('put_2m.rps').median * 2:,.0f} MiB/s")
        row(f"GET 2 MiB, c{settings.big_connections}",
            f"{rps_p99('get_2m')}, {s('get_2m.rps').median * 2:,.0f} MiB/s")
        stall_runs = (("c1_get_hot", "GET hot"), ("c1_get_random", "GET random"), ("c1_put_1k", "PUT 1 KiB"),
                      ("c1_get_2m", "GET 2 MiB"))
        stall_share = max(max(s(f"{n}.share_40ms").values) for n, _ in stall_runs)
        stall_max = max(max(s(f"{n}.max_ms").values) for n, _ in stall_runs)
        for name, label in stall_runs:
            row(f"{label}, 1 connection (stall check)",
                f"{spread(s(f'{name}.rps'))} req/s, p50 {spread(s(f'{name}.p50_ms'), ' ms', 2)}, "
                f"max {spread(s(f'{name}.max_ms'), ' ms', 1)}")
        row("requests waiting >= 40 ms (delayed ACK)", f"{stall_share:.4%} of requests, max {stall_max:.1f} ms",
            "", f"none: {verdict(stall_share == 0)}")
        idle = max(f["rss_idle_kib.read"], f["rss_idle_kib.put"]) / KIB
        peak_1k = max(max(s("hwm_kib.read").values), max(s("hwm_kib.put").values)) / KIB
        peak_big = max(s("hwm_kib.big").values) / KIB
        row("RSS idle after start", f"{idle:.1f} MiB (empty db {f['rss_idle_kib.put'] / KIB:.1f}, "
            f"{settings.pastes:,}-paste db {f['rss_idle_kib.read'] / KIB:.1f})", "",
            f"< 16 MiB: {verdict(idle < 16)}")
        row("peak RSS under 1 KiB load (VmHWM)", f"{peak_1k:.1f} MiB", "", f"< 48 MiB: {verdict(peak_1k < 48)}")
        row(f"peak RSS under 2 MiB load, c{settings.big_connections}", f"{peak_big:.1f} MiB", "",
            f"< 48 MiB: {verdict(peak_big < 48)}")
        row("RSS 2 s after the load", f"{max(f['rss_after_load_kib.read'], f['rss_after_load_kib.put']) / KIB:.1f} MiB")
        row("database bytes per 1 KiB paste", f"{f['app_db_bytes_per_paste']:,.0f} B via the app "
            f"({f['app_db_pastes']:,} pastes); {f['preloaded_db_bytes_per_paste']:,.0f} B bulk-loaded")

    if s("plain.put_1k.rps"):
        for name, label in (("mixed_paced", "mixed paced (c64, 10 ms pauses)"), ("put_1k", "PUT 1 KiB, c64")):
            plain_p99, repl_p99 = s(f"plain.{name}.p99_ms"), s(f"replicated.{name}.p99_ms")
            plain_p50, repl_p50 = s(f"plain.{name}.p50_ms"), s(f"replicated.{name}.p50_ms")
            within = (repl_p99.median <= max(plain_p99.values) and repl_p50.median <= max(plain_p50.values))
            row(f"{label}, no replication", rps_p99(f"plain.{name}") + f", p50 {spread(plain_p50, ' ms', 2)}")
            row(f"{label}, with Litestream", rps_p99(f"replicated.{name}") + f", p50 {spread(repl_p50, ' ms', 2)}",
                f"p99 × {spread(s(f'ratio.replicated_vs_plain.{name}.p99'), '', 2)}, "
                f"p50 × {spread(s(f'ratio.replicated_vs_plain.{name}.p50'), '', 2)}",
                f"adds nothing (medians within the no-replication range): {verdict(within)}")
        for name, label in (("mixed_paced", "mixed paced"), ("put_1k", "PUT flood")):
            row(f"CPU of Litestream / moto_server during {label}",
                f"{spread(s(f'replicated.{name}.litestream_cores'), ' cores', 2)} / "
                f"{spread(s(f'replicated.{name}.moto_cores'), ' cores', 2)}")
        bound = SYNC_INTERVAL_S + 1
        for label in ("idle", "loaded"):
            row(f"PUT response -> in bucket ({label})",
                f"p50 {f[f'lag.{label}.p50_s']:.2f} s, p99 {f[f'lag.{label}.p99_s']:.2f} s, "
                f"max {f[f'lag.{label}.max_s']:.2f} s ({f[f'lag.{label}.samples']} PUTs, "
                f"{f[f'lag.{label}.missing_after_30s']} unseen)", "",
                f"p99 <= {bound:g} s: {verdict(f[f'lag.{label}.p99_s'] <= bound)}")
            if f"lag.{label}.to_ltx_file_p50_s" in f:
                row(f"  of which: to Litestream's LTX file / on to the bucket ({label}, p50)",
                    f"{f[f'lag.{label}.to_ltx_file_p50_s']:.2f} s / "
                    f"{f[f'lag.{label}.ltx_file_to_bucket_p50_s']:.2f} s")
        row("  bucket listing every (median, max): the resolution of those times",
            f"{f['lag.listing_gap_ms_median']:.0f} ms, {f['lag.listing_gap_ms_max']:.0f} ms")
        row(f"restore {settings.pastes:,} pastes ({f['restore.db_bytes'] / MIB:.0f} MiB db, "
            f"{f['restore.bucket_bytes'] / MIB:.0f} MiB in bucket)", spread(s("restore.seconds"), " s", 2))
        row("start on an empty bucket -> first /healthz 200",
            f"{spread(s('start.to_healthz_s'), ' s', 3)} (restore step {spread(s('start.restore_step_s'), ' s', 3)})")

    header = ("scenario", "median (min–max)", "ratio (same round)", "target")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-|-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def stop_on_sigterm(_signum, _frame) -> None:
    """SIGTERM ends the run like Ctrl-C does: through the cleanup that stops every process."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    settings = parse_settings(argv)
    for tool in ("wrk",):
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} is missing; run scripts/setup")
    for path in (RELEASE / "logpaste", RELEASE / "examples" / "bench_bare_actix",
                 RELEASE / "examples" / "bench_sqlx_ceiling", VENV_BIN / "litestream", VENV_BIN / "moto_server"):
        if not path.exists():
            raise SystemExit(f"bench: {path} is missing; run scripts/setup and scripts/bench (which builds)")

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="logpaste-bench-"))
    rng = random.Random()
    figures = Figures()
    figures.facts["machine"] = machine()
    figures.facts["settings"] = {k: str(v) for k, v in vars(settings).items()}
    started = time.monotonic()
    say(f"work folder {work}; {settings.runs} rounds of {settings.seconds:g} s per scenario"
        + (" (QUICK: a smoke run, not for comparison)" if settings.quick else ""))
    try:
        corpus = make_corpus(settings, procs, work, figures, rng)
        if settings.only in (None, "speed"):
            measure_speed(settings, procs, work, figures, rng, corpus)
        if settings.only in (None, "replication"):
            measure_replication(settings, procs, work, figures, rng, corpus)
    finally:
        procs.stop_all()
        if settings.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures.facts["total_seconds"] = round(time.monotonic() - started, 1)
    settings.json_out.parent.mkdir(parents=True, exist_ok=True)
    settings.json_out.write_text(json.dumps(figures.json(), indent=2))
    m = figures.facts["machine"]
    print(f"\nlogpaste {m['git_commit']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
          f"load average at start {m['load_average_at_start'][0]:.2f}; "
          f"{settings.runs} rounds x {settings.seconds:g} s; total {figures.facts['total_seconds']:.0f} s"
          + ("; QUICK" if settings.quick else ""))
    print(report(settings, figures))
    print(f"\nevery figure: {settings.json_out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
