#!/usr/bin/env python3
"""Benchmarks the emulator against the reference server on this machine (docs/BENCHMARK.md).

Each server is pinned to core 0 and wrk to core 1 (docs/BENCHMARK.md, "Measured before the
emulator"). For every workload: a warm-up, then RUNS measured runs; the table reports the median
req/s, the medians
of the per-run p50/p99, the ratio emulator / reference, and the emulator's RSS. Then start-up
time to the first 200 with 10,000 and 100,000 packages, and RSS per stored package.

Environment: RUNS (default 5), DURATION (seconds per run, default 10), WARMUP (default 3).
PEERS=1 also measures Prism, json-server and Mockoon (bench/peers/package.json, installed with
`npm ci` into bench/peers/node_modules) on the same 10,000 packages: GET by id, the first page of
100 and POST create, each the way that peer serves them (docs/BENCHMARK.md, "How to run").
"""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "target" / "release" / "entitlement-emulator"
REFERENCE = ROOT / "target" / "release" / "bench-reference"
LUA = ROOT / "bench" / "lua"
EM = "/v1.0/identityGovernance/entitlementManagement"
RUNS = int(os.environ.get("RUNS", "5"))
DURATION = int(os.environ.get("DURATION", "10"))
WARMUP = int(os.environ.get("WARMUP", "3"))
# Comma-separated substrings of workload names to run (default: all), e.g. WORKLOADS=batch.
ONLY = [w.strip().lower() for w in os.environ.get("WORKLOADS", "").split(",") if w.strip()]
PEERS = os.environ.get("PEERS", "") not in ("", "0")
PEER_DIR = ROOT / "bench" / "peers"
K, U = 1000, 1000  # requestable packages x bench users (gen.py)
FILTER = f"{EM}/accessPackages?$filter=displayName%20eq%20%27Access%20package%20009999%27"


def spawn(cmd, port):
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.01)
    proc.kill()
    sys.exit(f"{cmd[0]} did not start")


def rss_kb(proc):
    """Resident memory of the process and its children (Node peers may fork)."""
    pids, total = [proc.pid], 0
    while pids:
        pid = pids.pop()
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
        total += int(out.stdout.strip() or 0)
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                              text=True).stdout.split()
        pids.extend(int(k) for k in kids)
    return total


def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, script, env, seconds):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--timeout", "10s",
           "--latency", "-s", str(LUA / script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # The latency distribution's lines, not a "+/- Stdev" column that happens to end in 99%.
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p50, p99, int(bad.group(1)) if bad else 0, requests


def summary(runs):
    return {
        "rps": statistics.median(r[0] for r in runs),
        "p50": statistics.median(r[1] for r in runs),
        "p99": statistics.median(r[2] for r in runs),
        "errors": sum(r[3] for r in runs),
        "runs": [r[0] for r in runs],
    }


def measure(port, script, env):
    """Warm-up, then RUNS runs; POST-request runs continue from where the last one stopped."""
    return measure_alternating({"only": (port, env)}, script)["only"]


def measure_alternating(servers, script):
    """Like `measure`, for several servers at once: each is warmed up, then the runs take turns
    (A, B, A, B, …), so a drift of this VM's speed over minutes touches every server alike and
    the ratio compares runs made side by side. `servers`: label → (port, wrk environment)."""
    offsets = {label: 0 for label in servers}

    def one(label, seconds):
        port, env = servers[label]
        result = wrk(port, script, {**env, "OFFSET": str(offsets[label])}, seconds)
        offsets[label] += result[4] + 64  # wrk may send a few more than it counts
        return result

    for label in servers:
        one(label, WARMUP)
    runs = {label: [] for label in servers}
    for _ in range(RUNS):
        for label in servers:
            runs[label].append(one(label, DURATION))
    return {label: summary(r) for label, r in runs.items()}


def paired_ratio(a, b):
    """The median of run-by-run ratios of two alternating measurements."""
    return statistics.median(x / y for x, y in zip(a["runs"], b["runs"]) if y)


def workloads(data, token):
    base = {"TOKEN": token, "IDS": str(data / "ids.txt")}
    every = [
        ("GET by id", "byid.lua", {**base, "PREFIX": f"{EM}/accessPackages/"}),
        ("GET page of 100", "get.lua", {**base, "PATH_AND_QUERY": f"{EM}/accessPackages?$top=100"}),
        ("$filter over 10k", "get.lua", {**base, "PATH_AND_QUERY": FILTER}),
        ("$batch of 20 GETs", "batch.lua", {**base, "PATH_AND_QUERY": "/v1.0/$batch"}),
        ("POST create", "create.lua", {**base, "PATH_AND_QUERY": f"{EM}/accessPackages"}),
        ("POST delivered request", "request.lua",
         {**base, "PATH_AND_QUERY": f"{EM}/assignmentRequests", "K": str(K), "U": str(U)}),
    ]
    return [w for w in every if not ONLY or any(o in w[0].lower() for o in ONLY)]


def fetch(port, method, path, token, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read().decode()


def capture(port, data, token, out):
    """The emulator's own answers, for the reference server to replay."""
    captured = {}
    ids = (data / "ids.txt").read_text().split()
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in ids:
        path = f"{EM}/accessPackages/{i}"
        c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        captured[path] = c.getresponse().read().decode()
    for path in (f"{EM}/accessPackages?$top=100", FILTER):
        captured[path] = fetch(port, "GET", path, token)[1]
    out.write_text(json.dumps(captured))


def startup(fixture, token_for, runs=5):
    """Spawn → first 200 on a GET by id (new connection every millisecond); median ms and RSS."""
    times, rss = [], []
    first = (fixture / "ids.txt").read_text().split()[0]
    token = token_for(fixture)
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen([str(EMULATOR), "--fixtures", str(fixture), "--bind",
                                 "127.0.0.1:5111"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while True:
            try:
                if fetch(5111, "GET", f"{EM}/accessPackages/{first}", token)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.001)
        times.append((time.perf_counter() - start) * 1000)
        rss.append(rss_kb(proc))
        proc.kill()
        proc.wait()
    return statistics.median(times), statistics.median(rss)


def main():
    work = Path(tempfile.mkdtemp(prefix="ee-bench-"))
    small = work / "tenant-10k"
    large = work / "tenant-100k"
    gen = ROOT / "bench" / "gen.py"
    subprocess.run([sys.executable, gen, small, "10000", "--requestable", str(K), "--users",
                    str(U)], check=True)
    subprocess.run([sys.executable, gen, large, "100000"], check=True)

    def token_for(fixture):
        return subprocess.run([str(EMULATOR), "token", "--as", "admin@contoso.onmicrosoft.com",
                               "--fixtures", str(fixture), "--lifetime", "86400"],
                              capture_output=True, text=True, check=True).stdout.strip()

    token = token_for(small)
    print(f"machine: {os.uname().nodename} {os.uname().release}, {os.cpu_count()} cores; "
          f"{RUNS} runs x {DURATION}s after {WARMUP}s warm-up; wrk -t1 -c32 on core 1, "
          f"server on core 0", flush=True)

    results = {}
    # Both servers run side by side (idle one waits), pinned to the same core; each workload
    # gets a fresh reference, and each POST workload a fresh emulator (they grow the store).
    emu_cmd = [str(EMULATOR), "--fixtures", str(small), "--bind", "127.0.0.1:5101"]
    proc = spawn(emu_cmd, 5101)
    capture(5101, small, token, work / "captured.json")
    for name, script, env in workloads(small, token):
        if name.startswith("POST"):
            proc.kill()
            proc.wait()
            proc = spawn(emu_cmd, 5101)
        ref = spawn([str(REFERENCE), str(work / "captured.json"), "5102"], 5102)
        both = measure_alternating({"emulator": (5101, env), "reference": (5102, env)}, script)
        for label, server in (("emulator", proc), ("reference", ref)):
            results[(label, name)] = {**both[label], "rss": rss_kb(server)}
            print(f"  {label:9} {name}: {results[(label, name)]}", flush=True)
        results[("ratio", name)] = paired_ratio(both["emulator"], both["reference"])
        ref.kill()
        ref.wait()
    proc.kill()
    proc.wait()
    # Auth cost: the GET by id with auth enforced and with --auth off, runs alternating
    # (skipped when WORKLOADS picks a subset).
    if not ONLY:
        name, script, env = workloads(small, token)[0]
        on = spawn(emu_cmd, 5101)
        off = spawn([str(EMULATOR), "--fixtures", str(small), "--bind", "127.0.0.1:5103",
                     "--auth", "off"], 5103)
        both = measure_alternating({"on": (5101, env), "off": (5103, {**env, "TOKEN": ""})},
                                   script)
        results[("auth", name)] = both
        for server in (on, off):
            server.kill()
            server.wait()

    print()
    print("| workload | emulator req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms "
          "| ratio | emulator RSS | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in workloads(small, token):
        e, r = results[("emulator", name)], results[("reference", name)]
        print(f"| {name} | {e['rps']:,.0f} | {e['p50']:.2f} | {e['p99']:.2f} | {r['rps']:,.0f} "
              f"| {r['p50']:.2f} | {r['p99']:.2f} | {results[('ratio', name)]:.2f} "
              f"| {e['rss'] / 1024:.0f} MB | {e['errors'] + r['errors']} |")
    if PEERS:
        peers(work, results)
    if ONLY:
        return
    auth = results[("auth", "GET by id")]
    cost = 1 - paired_ratio(auth["on"], auth["off"])
    print(f"\nauth cost on GET by id (runs alternating): {auth['off']['rps']:,.0f} req/s with "
          f"--auth off, {auth['on']['rps']:,.0f} enforced ({cost * 100:.1f}% slower, median of "
          f"run-by-run ratios)")

    default_ms, default_rss = startup_default(token_for)
    small_ms, small_rss = startup(small, token_for)
    large_ms, large_rss = startup(large, token_for)
    print(f"start-up to first 200: default tenant {default_ms:.0f} ms ({default_rss / 1024:.0f} MB),"
          f" 10k packages {small_ms:.0f} ms ({small_rss / 1024:.0f} MB), 100k packages "
          f"{large_ms:.0f} ms ({large_rss / 1024:.0f} MB)")
    per = (large_rss - default_rss) * 1024 / 100_000
    print(f"resident memory per stored access package: {per:.0f} bytes")


def peers(work, emulator_results):
    """Prism, json-server and Mockoon on the same packages, each started as a user would (their
    default logging, output to /dev/null), pinned like the emulator."""
    if not (PEER_DIR / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True,
                       stdout=subprocess.DEVNULL)
    captured = json.loads((work / "captured.json").read_text())
    items = []
    for path, body in captured.items():
        if "?" not in path:
            item = json.loads(body)
            item.pop("@odata.context", None)
            items.append(item)
    (work / "items.json").write_text(json.dumps(items))
    (work / "db.json").write_text(json.dumps({"accessPackages": items}))
    example = {"application/json": {}}
    page = {"value": items[:100]}
    spec = {
        "openapi": "3.0.3", "info": {"title": "accessPackages", "version": "1"},
        "paths": {
            "/accessPackages/{id}": {"get": {
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "one", "content": {
                    "application/json": {"example": items[0]}}}}}},
            "/accessPackages": {
                "get": {"responses": {"200": {"description": "page", "content": {
                    "application/json": {"example": page}}}}},
                "post": {"requestBody": {"content": example},
                         "responses": {"201": {"description": "created", "content": {
                             "application/json": {"example": items[0]}}}}}},
        },
    }
    (work / "openapi.json").write_text(json.dumps(spec))
    modules = PEER_DIR / "node_modules"
    subprocess.run(["node", PEER_DIR / "mockoon-env.js", work / "items.json",
                    work / "mockoon.json", "5103"], check=True,
                   env={**os.environ, "NODE_PATH": str(modules)})
    servers = {
        "prism": (["node", modules / "@stoplight/prism-cli/dist/index.js", "mock", "-h",
                   "127.0.0.1", "-p", "5103", work / "openapi.json"], "?$top=100"),
        "json-server": (["node", modules / "json-server/lib/cli/bin.js", work / "db-work.json",
                         "--host", "127.0.0.1", "--port", "5103"], "?_page=1&_limit=100"),
        "mockoon": (["node", modules / "@mockoon/cli/bin/run.js", "start", "-d",
                     work / "mockoon.json", "-l", "127.0.0.1", "-p", "5103"], "?page=1&limit=100"),
    }
    base = {"TOKEN": "", "IDS": str(work / "tenant-10k" / "ids.txt")}
    print("\n| peer | workload | req/s | p50 ms | p99 ms | RSS | emulator / peer | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for peer, (cmd, page_query) in servers.items():
        for name, script, env in [
            ("GET by id", "byid.lua", {**base, "PREFIX": "/accessPackages/"}),
            ("GET page of 100", "get.lua",
             {**base, "PATH_AND_QUERY": f"/accessPackages{page_query}"}),
            ("POST create", "create.lua", {**base, "PATH_AND_QUERY": "/accessPackages"}),
        ]:
            # json-server rewrites its file on every POST: each run starts from the original.
            (work / "db-work.json").write_text((work / "db.json").read_text())
            proc = spawn([str(c) for c in cmd], 5103)
            r = measure(5103, script, env)
            r["rss"] = rss_kb(proc)
            proc.kill()
            proc.wait()
            emu = emulator_results.get(("emulator", name))
            ratio = f"{emu['rps'] / r['rps']:,.0f}x" if emu and r["rps"] else "-"
            print(f"| {peer} | {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
                  f"| {r['rss'] / 1024:.0f} MB | {ratio} | {r['errors']} |", flush=True)


def startup_default(token_for):
    with tempfile.TemporaryDirectory() as d:
        fixture = Path(d) / "default"
        subprocess.run([sys.executable, ROOT / "bench" / "gen.py", fixture, "1"], check=True)
        return startup(fixture, token_for)


if __name__ == "__main__":
    main()
