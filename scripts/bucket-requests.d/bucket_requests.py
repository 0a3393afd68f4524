"""Counts the requests Litestream makes to an S3 bucket, by type, for one or more
Litestream configurations, and prints what they imply per month on S3, B2 and R2.

For each configuration, in parallel and independently: a moto S3 server, the pinned
Litestream (`litestream replicate -config FILE`, environment as docker_entrypoint.sh
sets it) and the app, all on 127.0.0.1 and free ports. Then:

  start-up  Litestream and the app start; one paste; --warmup seconds
  idle      --idle seconds without a single write
  pastes    --pastes pastes of --paste-bytes, one every --paste-every seconds, then
            --settle seconds for the compactions they cause
  restore   `litestream restore` of the latest state: every paste must come back; and of
            the point in time just before the first measured paste: only the warm-up one

moto logs one line per request; each is classified as LIST, PUT (uploads, multipart
parts included), GET, HEAD, DELETE (one DeleteObjects batch) or OTHER, and uploads by
LTX level. Idle requests are scaled to an hour; the paste phase, minus the idle rate over
its length, is divided by the number of pastes. Every process is stopped by PID.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LITESTREAM = os.path.join(REPO, ".venv/bin/litestream")
MOTO = os.path.join(REPO, ".venv/bin/moto_server")
BUCKET = "logpaste-requests"
REPLICA_PATH = "logpaste"
KINDS = ["LIST", "PUT", "GET", "HEAD", "DELETE", "OTHER"]

HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4

# Request prices in USD, as published by each provider (checked 2026-11; check them
# again before relying on the figures). Storage is not counted: a little more than the
# database itself, see deploy/BUCKETS.md.
PRICES = {
    "S3": "AWS S3 Standard (us-east-1): PUT, POST, LIST $0.005 per 1,000; GET, HEAD "
    "$0.0004 per 1,000; DeleteObjects counted as a POST (DELETE itself is free)",
    "B2": "Backblaze B2: uploads and deletes free; LIST (class C) 2,500 a day free, then "
    "$0.004 per 1,000; GET, HEAD (class B) 2,500 a day free, then $0.004 per 10,000",
    "R2": "Cloudflare R2: PUT, LIST, DeleteObjects (class A) 1 million a month free, then "
    "$4.50 per million; GET, HEAD (class B) 10 million a month free, then $0.36 per million",
}


def monthly_cost(per_month):
    """USD a month for a Counter of requests a month, per store."""
    s3 = (per_month["PUT"] + per_month["LIST"] + per_month["DELETE"] + per_month["OTHER"]) * 0.005 / 1000 + (
        per_month["GET"] + per_month["HEAD"]
    ) * 0.0004 / 1000
    per_day = {kind: count / DAYS_PER_MONTH for kind, count in per_month.items()}
    b2_class_c = max(0.0, per_day["LIST"] + per_day["OTHER"] - 2500) * 0.004 / 1000
    b2_class_b = max(0.0, per_day["GET"] + per_day["HEAD"] - 2500) * 0.004 / 10000
    b2 = (b2_class_c + b2_class_b) * DAYS_PER_MONTH
    r2_class_a = per_month["PUT"] + per_month["LIST"] + per_month["DELETE"] + per_month["OTHER"]
    r2_class_b = per_month["GET"] + per_month["HEAD"]
    r2 = max(0.0, r2_class_a - 1_000_000) * 4.50 / 1e6 + max(0.0, r2_class_b - 10_000_000) * 0.36 / 1e6
    return {"S3": s3, "B2": b2, "R2": r2}


REQUEST_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3})')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def classify(method, target):
    """(kind, LTX level of an upload or None) of one request line of moto's log."""
    path, _, query = target.partition("?")
    bucket_and_key = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    key = bucket_and_key[1] if len(bucket_and_key) == 2 else ""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    level = None
    if key:
        # Litestream 0.5 keys: <path>/<level, 4 hex digits>/<min>-<max>.ltx
        parts = key.split("/")
        if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{4}", parts[-2]):
            level = int(parts[-2], 16)
    if method == "GET":
        return ("GET", None) if key else ("LIST", None)
    if method == "HEAD":
        return "HEAD", None
    if method == "POST" and "delete" in params:
        return "DELETE", None
    if method in ("PUT", "POST") and key:
        # PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload: all
        # billed as uploads. Only a whole object counts towards its level.
        whole = method == "PUT" and "partNumber" not in params
        return "PUT", level if whole or "uploadId" in params and method == "POST" else None
    if method == "DELETE" and key:
        return "DELETE", None
    return "OTHER", None


def moto_requests(log_path):
    """Every request line moto logged so far, as (kind, level)."""
    try:
        with open(log_path, "rb") as log:
            text = ANSI.sub("", log.read().decode("utf-8", "replace"))
    except FileNotFoundError:
        return []
    return [classify(m.group(1), m.group(2)) for m in REQUEST_LINE.finditer(text)]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, timeout=20):
    request = urllib.request.Request(url, data=body, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        return response.status, response.read()


def pseudo_random_text(length, seed):
    """Printable, incompressible-ish bytes (xorshift), like a log file's worth of noise."""
    state = seed | 1
    out = bytearray()
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n"
    while len(out) < length:
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        out.append(alphabet[state % len(alphabet)])
    return bytes(out)


class Processes:
    """Processes started by one run, each in its own process group, killed by PID."""

    def __init__(self):
        self.started = []

    def spawn(self, argv, log_path, env):
        log = open(log_path, "wb")
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self.started.append(process)
        return process

    def kill_all(self):
        for process in reversed(self.started):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.started = []


def wait_until(what, ready, limit, process=None, log_path=None):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.2)
    tail = ""
    if log_path and os.path.exists(log_path):
        with open(log_path, "rb") as log:
            tail = log.read()[-4000:].decode("utf-8", "replace")
    raise RuntimeError(f"{what} not ready within {limit} s\n{tail}")


class Run:
    """One configuration measured end to end."""

    def __init__(self, label, config_path, args, work_dir):
        self.label = label
        self.config_path = config_path
        self.args = args
        self.dir = os.path.join(work_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", label))
        os.makedirs(self.dir)
        self.processes = Processes()
        self.phases = {}  # name -> (seconds, Counter of kinds, Counter of upload levels)
        self.schedule = []
        self.restore = None
        self.error = None

    def log(self, message):
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {self.label}: {message}", file=sys.stderr, flush=True)

    def environment(self, moto_port):
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LITESTREAM_"))}
        env.update(
            {
                "DB_PATH": os.path.join(self.dir, "data", "store.db"),
                "DB_REPLICA_URL": f"s3://{BUCKET}/{REPLICA_PATH}?endpoint=http://127.0.0.1:{moto_port}",
                "LITESTREAM_ACCESS_KEY_ID": "bucket-requests",
                "LITESTREAM_SECRET_ACCESS_KEY": "bucket-requests",
                "LITESTREAM_REGION": "",
                "LITESTREAM_ENDPOINT": "",
                # docker_entrypoint.sh's default.
                "DB_SYNC_INTERVAL": os.environ.get("DB_SYNC_INTERVAL", "1s"),
            }
        )
        return env

    def mark(self):
        return (time.monotonic(), len(moto_requests(self.moto_log)))

    def close_phase(self, name, start):
        seconds = time.monotonic() - start[0]
        requests = moto_requests(self.moto_log)[start[1]:]
        kinds = Counter(kind for kind, _ in requests)
        levels = Counter(level for _, level in requests if level is not None)
        self.phases[name] = (seconds, kinds, levels)
        self.log(f"{name}: {sum(kinds.values())} requests in {seconds:.0f} s")

    def paste(self, body):
        status, answer = http("PUT", f"{self.app_url}/", body)
        if status != 200:
            raise RuntimeError(f"PUT / answered {status}")
        return answer.decode().split('"id":"', 1)[1].split('"', 1)[0]

    def litestream_restore(self, output, extra):
        command = [LITESTREAM, "restore", *extra, "-o", output, self.env["DB_REPLICA_URL"]]
        done = subprocess.run(command, env=self.env, capture_output=True, timeout=300)
        if done.returncode != 0:
            return None, done.stderr.decode("utf-8", "replace")[-2000:]
        with sqlite3.connect(output) as db:
            return {row[0] for row in db.execute("SELECT id FROM entries")}, ""

    def run(self):
        try:
            self.measure()
        except Exception as err:  # reported with the results, the other runs go on
            self.error = f"{type(err).__name__}: {err}"
            self.log(f"FAILED: {self.error}")
        finally:
            self.processes.kill_all()

    def measure(self):
        args = self.args
        os.makedirs(os.path.join(self.dir, "data"))
        moto_port = free_port()
        self.moto_log = os.path.join(self.dir, "moto.log")
        moto_env = {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}
        moto = self.processes.spawn([MOTO, "-H", "127.0.0.1", "-p", str(moto_port)], self.moto_log, moto_env)

        def moto_up():
            try:
                return http("GET", f"http://127.0.0.1:{moto_port}/")[0] == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_until("moto_server", moto_up, 60, moto, self.moto_log)
        http("PUT", f"http://127.0.0.1:{moto_port}/{BUCKET}")
        self.env = self.environment(moto_port)

        # start-up: as the container does it, Litestream first, then the app.
        start = self.mark()
        litestream_log = os.path.join(self.dir, "litestream.log")
        litestream = self.processes.spawn(
            [LITESTREAM, "replicate", "-config", self.config_path], litestream_log, self.env
        )
        app_port = free_port()
        app_env = dict(self.env, PORT=str(app_port), LP_HOST="127.0.0.1", RUST_LOG="warn")
        app_log = os.path.join(self.dir, "app.log")
        app = self.processes.spawn([args.app], app_log, app_env)
        self.app_url = f"http://127.0.0.1:{app_port}"

        def app_up():
            try:
                return http("GET", f"{self.app_url}/healthz", timeout=2)[0] == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_until("the app", app_up, 60, app, app_log)
        ids = [self.paste(pseudo_random_text(args.paste_bytes, 1))]
        time.sleep(args.warmup)
        if litestream.poll() is not None:
            raise RuntimeError(f"litestream exited ({litestream.returncode}); see {litestream_log}")
        self.close_phase("start-up", start)
        self.schedule = schedule_from_log(litestream_log)

        start = self.mark()
        time.sleep(args.idle)
        self.close_phase("idle", start)
        before_pastes = datetime.now(timezone.utc)
        time.sleep(1)

        start = self.mark()
        for number in range(args.pastes):
            slot = start[0] + number * args.paste_every
            time.sleep(max(0.0, slot - time.monotonic()))
            ids.append(self.paste(pseudo_random_text(args.paste_bytes, number + 2)))
        time.sleep(args.settle)
        if litestream.poll() is not None:
            raise RuntimeError(f"litestream exited ({litestream.returncode}); see {litestream_log}")
        self.close_phase("pastes", start)

        # restore: the latest state, then the point in time before the measured pastes.
        start = self.mark()
        latest, error = self.litestream_restore(os.path.join(self.dir, "latest.db"), [])
        stamp = before_pastes.strftime("%Y-%m-%dT%H:%M:%SZ")
        if args.pastes:
            past, pitr_error = self.litestream_restore(os.path.join(self.dir, "past.db"), ["-timestamp", stamp])
        else:
            # Litestream refuses a time later than the replica's newest file, and without a
            # paste after it there is nothing to tell apart: the check cannot run.
            past, pitr_error = None, ""
        self.close_phase("restore", start)
        # As of that time the database held the warm-up paste only. Litestream restores the
        # newest state its files allow up to that time: the warm-up paste, or, when the files
        # that held it alone were merged since, the state before it (coarser steps).
        if not args.pastes:
            pitr = "not checked (no paste after that time)"
        elif past is None:
            pitr = "FAILED"
        elif past == {ids[0]}:
            pitr = "the warm-up paste only, as expected"
        elif not past:
            pitr = "no paste yet (the warm-up paste's own files were merged since: coarser steps)"
        else:
            pitr = f"{len(past)} pastes, some written after that time: WRONG"
        self.restore = {
            "latest": f"{len(latest & set(ids)) if latest else 0}/{len(ids)} pastes",
            "latest_ok": latest is not None and set(ids) <= latest,
            "pitr": f"{pitr} (as of {stamp})",
            # None: not checked, which is neither a pass nor a failure.
            "pitr_ok": past is not None and past <= {ids[0]} if args.pastes else None,
            "error": error or pitr_error,
        }


def schedule_from_log(path):
    """The housekeeping Litestream really applied, from its start-up lines."""
    with open(path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    levels = [
        (int(level), parse_duration(interval))
        for level, interval in re.findall(r'starting compaction monitor".*?level=(\d+) interval=(\S+)', text)
    ]
    levels.sort()
    retention = re.search(r'starting L0 retention monitor".*?interval=(\S+) retention=(\S+)', text)
    schedule = [(f"L{level}" if level != 9 else "snapshot", seconds) for level, seconds in levels]
    schedule = [(name, seconds) for name, seconds in schedule if name != "snapshot"] + [
        (name, seconds) for name, seconds in schedule if name == "snapshot"
    ]
    if retention:
        schedule.append(("L0 retention check", parse_duration(retention.group(1))))
    return [(name, seconds) for name, seconds in schedule]


def parse_duration(text):
    """Seconds in a Go duration such as 1h0m0s or 30s."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|ms|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def show_duration(seconds):
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:g}s"


def row(counter, scale=1.0, digits=0):
    parts = []
    for kind in KINDS:
        value = counter.get(kind, 0) * scale
        if value:
            parts.append(f"{kind} {value:,.{digits}f}")
    total = sum(counter.values()) * scale
    return (", ".join(parts) or "none") + f"  (total {total:,.{digits}f})"


def report(run, args):
    print(f"\n== {run.label}")
    if run.error:
        print(f"   FAILED: {run.error}\n   logs: {run.dir}")
        return False
    print("   schedule (from Litestream's start-up log): " + ", ".join(
        f"{name} {show_duration(seconds)}" for name, seconds in run.schedule
    ))
    seconds, kinds, levels = run.phases["start-up"]
    print(f"   start-up, first {seconds:.0f} s (one paste): {row(kinds)}")
    idle_seconds, idle, _ = run.phases["idle"]
    per_hour = {kind: idle.get(kind, 0) * 3600 / idle_seconds for kind in KINDS} if idle_seconds else {}
    print(f"   idle, {idle_seconds:.0f} s: {row(idle)}")
    print(f"   idle, per hour: {row(Counter(per_hour), digits=1)}")
    paste_seconds, pasting, levels = run.phases["pastes"]
    net = Counter({kind: max(0.0, pasting.get(kind, 0) - per_hour.get(kind, 0) * paste_seconds / 3600) for kind in KINDS})
    pastes = max(1, args.pastes)
    per_paste = Counter({kind: net[kind] / pastes for kind in KINDS})
    print(
        f"   {args.pastes} pastes of {args.paste_bytes:,} bytes, one every {args.paste_every:g} s, "
        f"then {args.settle:g} s: {row(pasting)}"
    )
    uploads = ", ".join(
        f"{'snapshot' if level == 9 else f'L{level}'} {count}" for level, count in sorted(levels.items())
    )
    print(f"     uploads by level: {uploads or 'none'}")
    if args.pastes:
        print(f"   per paste (minus the idle rate): {row(per_paste, digits=2)}")
    else:
        print("   per paste: not measured (no pastes); the month below counts the idle rate only")
    restore_seconds, restore, _ = run.phases["restore"]
    print(f"   restore: latest state {run.restore['latest']}; point in time: {run.restore['pitr']}")
    print(f"     requests of the restores: {row(restore)}")
    if run.restore["error"]:
        print(f"     restore error: {run.restore['error']}")
    per_month = Counter(
        {
            kind: per_hour.get(kind, 0) * HOURS_PER_MONTH
            + (per_paste[kind] * args.pastes_per_day * DAYS_PER_MONTH if args.pastes else 0)
            for kind in KINDS
        }
    )
    costs = monthly_cost(per_month)
    workload = f" + {args.pastes_per_day:,} pastes a day at the per-paste rate" if args.pastes else ", no pastes"
    print(f"   a month ({HOURS_PER_MONTH} h at the idle rate{workload}): {row(per_month)}")
    print("     requests cost: " + ", ".join(f"{store} ${cost:,.2f}" for store, cost in costs.items()))
    # A check that could not run does not fail the run, and is reported as not checked above.
    return run.restore["latest_ok"] and run.restore["pitr_ok"] is not False


def main():
    parser = argparse.ArgumentParser(
        prog="scripts/bucket-requests", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--app", required=True, help="the logpaste binary (the wrapper builds and passes it)")
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="a litestream.yml to measure (repeatable; "
        "default: the repository's)"
    )
    parser.add_argument(
        "--config-from-git", action="append", default=[], metavar="REV",
        help="measure litestream.yml as of this git revision too (repeatable)",
    )
    parser.add_argument(
        "--warmup", type=float, default=330,
        help="seconds after the first paste, so that its compactions below an hour are done before the "
        "idle phase (default 330)",
    )
    parser.add_argument("--idle", type=float, default=600, help="seconds without writes (default 600)")
    parser.add_argument(
        "--pastes", type=int, default=50,
        help="pastes in the paste phase (default 50; 0: idle only, the per-paste cost and the point-in-time "
        "restore are then not measured)",
    )
    parser.add_argument("--paste-every", type=float, default=6, help="seconds between pastes (default 6)")
    parser.add_argument("--paste-bytes", type=int, default=10 * 1024, help="bytes per paste (default 10240)")
    parser.add_argument(
        "--settle", type=float, default=330,
        help="seconds after the last paste, for the compactions it causes (default 330: covers 30 s and "
        "5 min levels; to see an hourly level, let the run cross the top of an hour)",
    )
    parser.add_argument(
        "--pastes-per-day", type=int, default=300, help="workload of the monthly estimate (default 300)"
    )
    parser.add_argument("--quick", action="store_true", help="warmup 20, idle 60, 10 pastes 3 s apart, settle 40")
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases (path printed)")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.idle, args.pastes, args.paste_every, args.settle = 20, 60, 10, 3, 40

    work_dir = tempfile.mkdtemp(prefix="bucket-requests-")
    configs = []
    for rev in args.config_from_git:
        text = subprocess.run(
            ["git", "-C", REPO, "show", f"{rev}:litestream.yml"], check=True, capture_output=True
        ).stdout
        path = os.path.join(work_dir, f"litestream-{re.sub(r'[^A-Za-z0-9]', '_', rev)}.yml")
        with open(path, "wb") as out:
            out.write(text)
        configs.append((f"litestream.yml at {rev}", path))
    for path in args.config:
        configs.append((path, os.path.abspath(path)))
    if not configs:
        configs.append(("litestream.yml", os.path.join(REPO, "litestream.yml")))

    print(
        f"bucket-requests: {len(configs)} configuration(s), in parallel, about "
        f"{(args.warmup + args.idle + args.pastes * args.paste_every + args.settle) / 60:.0f} minutes; "
        f"Litestream {subprocess.run([LITESTREAM, 'version'], capture_output=True, text=True).stdout.strip()}; "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    runs = [Run(label, path, args, work_dir) for label, path in configs]
    threads = [threading.Thread(target=run.run) for run in runs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for run in runs:
            run.processes.kill_all()

    all_ok = True
    for run in runs:
        all_ok = report(run, args) and all_ok
    print("\nprices used:")
    for text in PRICES.values():
        print(f"   {text}")
    window = min(args.idle, args.pastes * args.paste_every + args.settle)
    longer = sorted(
        {f"{name} every {show_duration(seconds)}" for run in runs for name, seconds in run.schedule if seconds > window}
    )
    if longer:
        print(
            f"periods longer than the measured windows ({window:.0f} s), seen only if a run crossed one of "
            f"their boundaries (they align to the clock): {', '.join(longer)}. Each lists the bucket a few "
            "times per period (when idle too, if its level's newest file spans several transactions); the "
            "snapshot also uploads the database when it changed. See docs/replication.md."
        )
    if args.keep:
        print(f"logs and databases: {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
