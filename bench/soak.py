#!/usr/bin/env python3
"""Soak check (not run in CI): MINUTES (default 10) of a steady mixed load on the emulator with
10,000 packages, RSS sampled every 10 s. The mix creates and deletes packages so the stored
state does not grow; RSS must level off. Run after `bench/run.sh` has built the release binary.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

MINUTES = float(os.environ.get("MINUTES", "10"))


def main():
    work = Path(tempfile.mkdtemp(prefix="ee-soak-"))
    fixture = work / "tenant-10k"
    subprocess.run([sys.executable, bench.ROOT / "bench" / "gen.py", fixture, "10000"], check=True)
    token = subprocess.run([str(bench.EMULATOR), "token", "--as", "admin@contoso.onmicrosoft.com",
                            "--fixtures", str(fixture), "--lifetime", "86400"],
                           capture_output=True, text=True, check=True).stdout.strip()
    proc = bench.spawn([str(bench.EMULATOR), "--fixtures", str(fixture), "--bind",
                        "127.0.0.1:5103"], 5103)
    seconds = int(MINUTES * 60)
    load = subprocess.Popen(
        ["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(bench.LUA / "soak.lua"), "http://127.0.0.1:5103"],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "TOKEN": token, "IDS": str(fixture / "ids.txt")})
    samples = []
    start = time.time()
    while load.poll() is None:
        samples.append((round(time.time() - start), bench.rss_kb(proc)))
        print(f"{samples[-1][0]:>5} s  RSS {samples[-1][1] / 1024:.1f} MB", flush=True)
        time.sleep(10)
    print(load.stdout.read())
    proc.kill()
    tail = [rss for t, rss in samples if t >= seconds / 2]
    growth = (max(tail) - min(tail)) / max(min(tail), 1) * 100 if tail else 0.0
    print(f"second half: RSS between {min(tail) / 1024:.1f} and {max(tail) / 1024:.1f} MB "
          f"({growth:.1f}% spread) -> {'levels off' if growth < 10 else 'STILL GROWING'}")


if __name__ == "__main__":
    main()
