"""Latency of the rating server's choose+next, and library scan times, by library size.

For each library size (1,000, 10,000 and 100,000 images by default) a library of real
image files is made (tiny distinct PNGs in folders of 1,000), ``tastemaker rate DIR
--no-browser --port 0 --seed 0`` is started as a subprocess exactly as a person starts
it (its startup scan included), and a scripted client does what the page does after each
answer: ``POST /api/choose`` with the set's token and a winner, then ``GET /api/next``,
over one keep-alive HTTP connection on 127.0.0.1 (httpx). After ``--warmup`` unmeasured
rounds, ``--requests`` rounds are timed; we report p50/p90/p99 of each round
(choose+next) and of each request alone, and how they grow with the library: the ratio
of each size's p50 and p99 to those of the smallest library, measured in the same run.
Every choice is committed (SQLite, WAL, ``synchronous=FULL``: an fsync per choice)
before its answer, so the figures include the disk's flush time.

Library setup: up to ``--insert-above`` images (10,000) the files are scanned by
``Library.scan`` (timed: ``fresh``, then ``rescan`` of the unchanged files, best of
``--rescans``); larger libraries get the same files on disk, but their rows are inserted
straight into the store (``Store.add_image`` and ``Store.set_files`` with each file's real
size and mtime), which skips hashing and checking 100,000 files; the server's own startup
scan then finds them all unchanged, and the rescan is timed as for the others.

``--nodelay-check`` adds a diagnostic: the same rounds against a second server started
the same way except that its listening socket gets ``TCP_NODELAY`` (which the sockets it
accepts inherit) before it serves, with the ratio of its latencies to the server's as it
is. tastemaker is not changed by it; it tells whether small responses wait on Nagle's
algorithm and the client's delayed ACK.

Targets: p99 of choose+next under 20 ms at 100,000 images (on a 2-core CPU), a rescan of
10,000 unchanged files under 2 s.

    python benchmarks/serving.py                          # 1,000, 10,000, 100,000 images
    python benchmarks/serving.py --quick --json out.json  # a CI check: 200 and 1,000 images

JSON: ``config``; ``results`` keyed by library size, each with ``images``, ``setup``
(``scanned`` or ``inserted``), ``make_files_s``, ``insert_rows_s`` (when inserted),
``fresh_scan_s`` (null when inserted), ``rescan_s`` (best), ``rescan_all_s``,
``server_start_s`` (start to URL, its scan included), ``rounds``, ``choose_next_ms``,
``choose_ms``, ``next_ms`` (each ``p50``, ``p90``, ``p99``, ``mean``, ``max``),
``choices_stored``, ``p50_ratio``, ``p99_ratio`` (vs the smallest size), and with
``--nodelay-check`` ``nodelay`` (``choose_next_ms``, ``choose_ms``, ``next_ms``,
``p50_ratio_vs_as_is``, ``p99_ratio_vs_as_is``); ``targets`` (``largest``,
``p99_ms_at_largest``, ``p99_target_met``, ``rescan_10k_s``, ``rescan_target_met``; null
where that size was not run); ``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import _common
import httpx
import numpy as np

from tastemaker.storage.library import open_library
from tastemaker.storage.store import FileRecord, NewImage

P99_TARGET_MS = 20.0
RESCAN_TARGET_S = 2.0
RESCAN_TARGET_FILES = 10_000
PER_FOLDER = 1000
SIDE = (4, 3)


def tiny_png(i: int, size: tuple[int, int] = SIDE) -> bytes:
    """A ``size`` PNG of one colour, distinct for every ``i`` below 2**24 (so a distinct
    content hash), encoded directly (a few microseconds, against Pillow's hundred)."""
    w, h = size
    rgb = bytes((i & 255, (i >> 8) & 255, (i >> 16) & 255))
    raw = (b"\x00" + rgb * w) * h

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data)
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_files(root: Path, n: int) -> list[tuple[str, bytes]]:
    """``n`` distinct tiny PNGs under ``root``, 1,000 a folder; (relative path, content)."""
    made = []
    for i in range(n):
        rel = f"d{i // PER_FOLDER:03d}/img{i:06d}.png"
        data = tiny_png(i)
        path = root / rel
        if i % PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        made.append((rel, data))
    return made


def insert_rows(root: Path, files: list[tuple[str, bytes]]) -> None:
    """Store rows for ``files`` as a scan would leave them, without hashing or checking
    the files again (their content is known): one image per file, each file's record
    with its real size and mtime, so a later scan finds them unchanged."""
    with open_library(root) as library:
        store = library.store
        ids = []
        with store.atomic():
            for rel, data in files:
                digest = hashlib.sha256(data).hexdigest()
                ids.append(store.add_image(NewImage(digest, rel, len(data), *SIDE, None)))
        records = []
        for (rel, _), image_id in zip(files, ids, strict=True):
            st = (root / rel).stat()
            records.append(FileRecord(rel, st.st_size, st.st_mtime_ns, image_id))
        store.set_files(records, [])


def timed_scan(root: Path) -> float:
    started = time.perf_counter()
    with open_library(root) as library:
        report = library.scan()
    seconds = time.perf_counter() - started
    if report.unreadable:
        raise RuntimeError(f"unreadable generated images: {report.unreadable[:3]}")
    return seconds


# --nodelay-check: the same command, its listening socket given TCP_NODELAY (which the
# sockets it accepts inherit) before serving; a diagnostic of the server's socket options,
# tastemaker itself unchanged
NODELAY_LAUNCHER = """
import socket, sys
import tastemaker.web.serve as serve
_bind = serve.bind
def bind(host, port):
    sock = _bind(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
serve.bind = bind
from tastemaker.cli import app
sys.argv[0] = "tastemaker"
app()
"""


class Server:
    """``tastemaker rate DIR --no-browser --port 0`` as a subprocess."""

    def __init__(self, folder: Path, log: Path, nodelay: bool = False) -> None:
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        launcher = ["-c", NODELAY_LAUNCHER] if nodelay else ["-m", "tastemaker"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                *launcher,
                "rate",
                str(folder),
                "--no-browser",
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--seed",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        )
        self.url = self._wait_for_url()
        self.start_s = time.perf_counter() - started

    def _wait_for_url(self) -> str:
        assert self.process.stdout is not None
        lines = []
        for line in self.process.stdout:  # it prints its URL once it is listening
            lines.append(line)
            if line.startswith("http://"):
                return line.strip()
        self.process.wait(30)
        self.log.flush()
        raise RuntimeError(
            "the server did not start:\n" + "".join(lines) + Path(self.log.name).read_text()
        )

    def stop(self, client: httpx.Client | None) -> None:
        """End rating as the page's End does, then stop the server as Ctrl-C does (ending
        rating leaves the other pages served); terminate if that fails."""
        try:
            if client is not None:  # a POST body is JSON, or the server refuses it (415)
                client.post("/api/end", json={}, timeout=30).raise_for_status()
            self.process.send_signal(signal.SIGINT)
            self.process.communicate(timeout=30)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            self.process.terminate()
            try:
                self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        finally:
            self.log.close()


def rounds(client: httpx.Client, n: int, rng: np.random.Generator) -> dict[str, list[float]]:
    """``n`` rounds of POST /api/choose (a random winner of the set) + GET /api/next."""
    current = client.get("/api/next").raise_for_status().json()
    times: dict[str, list[float]] = {"choose": [], "next": [], "choose_next": []}
    for _ in range(n):
        winner = current["images"][int(rng.integers(len(current["images"])))]["id"]
        body = {"pair": current["pair"], "winner": winner, "ms": int(rng.integers(400, 3000))}
        t0 = time.perf_counter()
        client.post("/api/choose", json=body).raise_for_status()
        t1 = time.perf_counter()
        current = client.get("/api/next").raise_for_status().json()
        t2 = time.perf_counter()
        times["choose"].append(1000 * (t1 - t0))
        times["next"].append(1000 * (t2 - t1))
        times["choose_next"].append(1000 * (t2 - t0))
    return times


def serve_rounds(
    root: Path, log: Path, warmup: int, requests: int, seed: int, nodelay: bool = False
) -> tuple[float, dict[str, list[float]]]:
    """Start the server on ``root``, time ``requests`` rounds after ``warmup``, stop it;
    (seconds to start, times)."""
    server = Server(root, log, nodelay)
    client = None
    try:
        client = httpx.Client(base_url=server.url, timeout=60)
        rng = np.random.default_rng(seed)
        rounds(client, warmup, rng)
        return server.start_s, rounds(client, requests, rng)
    finally:
        server.stop(client)
        if client is not None:
            client.close()


def run_size(
    base: Path,
    n: int,
    insert_above: int,
    rescans: int,
    warmup: int,
    requests: int,
    nodelay_check: bool = False,
) -> dict:
    root = base / f"lib{n}"
    result: dict = {"images": n}
    t = time.perf_counter()
    files = make_files(root, n)
    result["make_files_s"] = time.perf_counter() - t
    if n > insert_above:
        result["setup"] = "inserted"
        t = time.perf_counter()
        insert_rows(root, files)
        result["insert_rows_s"] = time.perf_counter() - t
        result["fresh_scan_s"] = None
    else:
        result["setup"] = "scanned"
        result["fresh_scan_s"] = timed_scan(root)
    del files
    rescan = [timed_scan(root) for _ in range(rescans)]
    result["rescan_s"] = min(rescan)
    result["rescan_all_s"] = rescan
    print(
        f"{n:,} images ({result['setup']}): fresh scan {_common.fmt(result['fresh_scan_s'])} s,"
        f" rescan {result['rescan_s']:.2f} s",
        flush=True,
    )

    result["server_start_s"], times = serve_rounds(
        root, base / f"server{n}.log", warmup, requests, seed=n
    )
    if nodelay_check:
        _, fixed = serve_rounds(
            root, base / f"server{n}-nodelay.log", warmup, requests, seed=n + 1, nodelay=True
        )
        result["nodelay"] = {f"{k}_ms": _common.percentiles(v) for k, v in fixed.items()}
    with open_library(root) as library:
        result["choices_stored"] = len(library.store.comparisons())
    result["rounds"] = requests
    for key in ("choose_next", "choose", "next"):
        result[f"{key}_ms"] = _common.percentiles(times[key])
    s = result["choose_next_ms"]
    print(
        f"  server up in {result['server_start_s']:.2f} s; choose+next p50 {s['p50']:.2f} ms,"
        f" p99 {s['p99']:.2f} ms over {requests} rounds",
        flush=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="The rating server's choose+next latency and scan times by library size."
    )
    ap.add_argument(
        "--images", type=int, nargs="+", help="library sizes (default 1000 10000 100000)"
    )
    ap.add_argument("--requests", type=int, help="timed rounds a size (default 1000; 60 quick)")
    ap.add_argument("--warmup", type=int, help="unmeasured rounds first (default 50; 10 quick)")
    ap.add_argument("--rescans", type=int, help="timed rescans a size (default 3; 1 quick)")
    ap.add_argument(
        "--insert-above",
        type=int,
        default=RESCAN_TARGET_FILES,
        help="larger libraries get their rows inserted, not scanned (default 10000)",
    )
    ap.add_argument(
        "--nodelay-check",
        action="store_true",
        help="also time a server whose listening socket has TCP_NODELAY (a diagnostic)",
    )
    ap.add_argument("--dir", help="where to make the libraries (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true", help="200 and 1,000 images: for CI")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    sizes = sorted(set(args.images or ((200, 1000) if args.quick else (1000, 10_000, 100_000))))
    if sizes[0] < 2:
        ap.error("a library to rate needs at least 2 images")
    config = {
        "images": sizes,
        "requests": args.requests or (60 if args.quick else 1000),
        "warmup": args.warmup if args.warmup is not None else (10 if args.quick else 50),
        "rescans": args.rescans or (1 if args.quick else 3),
        "insert_above": args.insert_above,
        "nodelay_check": args.nodelay_check,
        "quick": args.quick,
    }
    started = time.perf_counter()
    results: dict[str, dict] = {}
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-", dir=args.dir) as tmp:
        config["dir"] = tmp
        for n in sizes:
            results[str(n)] = run_size(
                Path(tmp),
                n,
                args.insert_above,
                config["rescans"],
                config["warmup"],
                config["requests"],
                args.nodelay_check,
            )
    first = results[str(sizes[0])]
    for r in results.values():
        for q in ("p50", "p99"):
            r[f"{q}_ratio"] = _common.ratio(r["choose_next_ms"][q], first["choose_next_ms"][q])
        if "nodelay" in r:
            d = r["nodelay"]
            for q in ("p50", "p99"):
                d[f"{q}_ratio_vs_as_is"] = _common.ratio(
                    d["choose_next_ms"][q], r["choose_next_ms"][q]
                )
    seconds = time.perf_counter() - started

    largest = results[str(sizes[-1])]
    at_target = results.get(str(RESCAN_TARGET_FILES))
    targets = {
        "largest": sizes[-1],
        "p99_ms_at_largest": largest["choose_next_ms"]["p99"],
        "p99_target_met": largest["choose_next_ms"]["p99"] < P99_TARGET_MS
        if sizes[-1] >= 100_000
        else None,
        "rescan_10k_s": None if at_target is None else at_target["rescan_s"],
        "rescan_target_met": None if at_target is None else at_target["rescan_s"] < RESCAN_TARGET_S,
    }

    base = f"{sizes[0]:,}"
    _common.print_table(
        [
            *("images", "p50 ms", "p90 ms", "p99 ms", "max ms"),
            *(f"p50 / {base}", f"p99 / {base}", "choose p99", "next p99"),
        ],
        [
            [
                r["images"],
                r["choose_next_ms"]["p50"],
                r["choose_next_ms"]["p90"],
                r["choose_next_ms"]["p99"],
                r["choose_next_ms"]["max"],
                r["p50_ratio"],
                r["p99_ratio"],
                r["choose_ms"]["p99"],
                r["next_ms"]["p99"],
            ]
            for r in results.values()
        ],
        title=(
            f"choose+next (POST /api/choose, GET /api/next), {config['requests']} rounds a size "
            f"after {config['warmup']} unmeasured; keep-alive client on 127.0.0.1; "
            f"{os.cpu_count()} CPU(s)"
        ),
    )
    _common.print_table(
        ["images", "setup", "fresh scan s", "rescan s", "rescan / fresh", "server start s"],
        [
            [
                r["images"],
                r["setup"],
                r["fresh_scan_s"],
                r["rescan_s"],
                _common.ratio(r["rescan_s"], r["fresh_scan_s"]),
                r["server_start_s"],
            ]
            for r in results.values()
        ],
        title=f"library scans (rescan: unchanged files, best of {config['rescans']}); "
        "server start: process start to URL, its own rescan included",
        digits=3,
    )
    if args.nodelay_check:
        _common.print_table(
            ["images", "p50 ms", "p99 ms", "p50 / as is", "p99 / as is", "choose p50", "next p50"],
            [
                [
                    r["images"],
                    r["nodelay"]["choose_next_ms"]["p50"],
                    r["nodelay"]["choose_next_ms"]["p99"],
                    r["nodelay"]["p50_ratio_vs_as_is"],
                    r["nodelay"]["p99_ratio_vs_as_is"],
                    r["nodelay"]["choose_ms"]["p50"],
                    r["nodelay"]["next_ms"]["p50"],
                ]
                for r in results.values()
            ],
            title="diagnostic (--nodelay-check): the same rounds against a server whose "
            "listening socket has TCP_NODELAY",
        )
    print(
        f"\ntargets: p99 choose+next at {sizes[-1]:,} images {largest['choose_next_ms']['p99']:.2f}"
        f" ms (< {P99_TARGET_MS:g} ms at 100,000: {_common.fmt(targets['p99_target_met'])}); "
        f"rescan of {RESCAN_TARGET_FILES:,} unchanged files {_common.fmt(targets['rescan_10k_s'])}"
        f" s (< {RESCAN_TARGET_S:g} s: {_common.fmt(targets['rescan_target_met'])})"
    )
    return _common.finish(args.json, seconds, config=config, results=results, targets=targets)


if __name__ == "__main__":
    raise SystemExit(main())
