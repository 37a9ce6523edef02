#!/usr/bin/env python3
"""Writes benchmark fixture tenants: the default tenant plus N access packages in General.

usage: gen.py OUT_DIR N [--requestable K --users U]

With --requestable K, the first K packages get a direct-assignment policy and U extra users are
added, so K*U distinct adminAdd requests can be delivered (the POST-request workload).
Ids are deterministic, so every run and both servers see the same ones.
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERAL = "50000000-0000-4000-8000-000000000001"


def package_id(i: int) -> str:
    return f"b7000000-0000-4000-8000-{i:012x}"


def user_id(i: int) -> str:
    return f"b2000000-0000-4000-8000-{i:012x}"


def main() -> None:
    args = sys.argv[1:]
    out, n = Path(args[0]), int(args[1])
    requestable = int(args[args.index("--requestable") + 1]) if "--requestable" in args else 0
    users = int(args[args.index("--users") + 1]) if "--users" in args else 0
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ROOT / "fixtures" / "default", out)
    packages = json.loads((out / "accessPackages.json").read_text())
    for i in range(n):
        packages.append({
            "id": package_id(i),
            "catalogId": GENERAL,
            "displayName": f"Access package {i:06d}",
            "description": f"Benchmark package number {i}",
        })
    (out / "accessPackages.json").write_text(json.dumps(packages))
    people = json.loads((out / "users.json").read_text())
    for i in range(users):
        people.append({
            "id": user_id(i),
            "displayName": f"Bench User {i:05d}",
            "userPrincipalName": f"bench.user{i:05d}@contoso.onmicrosoft.com",
        })
    (out / "users.json").write_text(json.dumps(people))
    policies = json.loads((out / "assignmentPolicies.json").read_text())
    for i in range(requestable):
        policies.append({
            "id": f"b9000000-0000-4000-8000-{i:012x}",
            "displayName": "Direct assignment",
            "accessPackage": {"id": package_id(i)},
            "allowedTargetScope": "notSpecified",
            "expiration": {"type": "noExpiration"},
        })
    (out / "assignmentPolicies.json").write_text(json.dumps(policies))
    (out / "ids.txt").write_text("".join(package_id(i) + "\n" for i in range(n)))


if __name__ == "__main__":
    main()
