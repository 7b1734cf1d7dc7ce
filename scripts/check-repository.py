#!/usr/bin/env python3
"""Repository checks that no compiler makes: the workspace's `rust-version` is what the
locked dependencies really need, and git holds no large binary and no secret."""
import json
import re
import subprocess
import sys

def version(text):
    return tuple(int(part) for part in text.split("."))

failures = []
metadata = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", "x86_64-unknown-linux-gnu"], text=True))
members = set(metadata["workspace_members"])
declared = {p["rust_version"] for p in metadata["packages"] if p["id"] in members}
needed = max((version(p["rust_version"]), p["name"]) for p in metadata["packages"]
             if p["id"] not in members and p.get("rust_version"))
for ours in declared:
    if ours is None or version(ours) < needed[0]:
        failures.append(f"Cargo.toml: rust-version = {ours!r}, but {needed[1]} needs "
                        f"{'.'.join(map(str, needed[0]))}")

# The layers: the domain crate and the router build without the AWS SDK, and the CLI
# without the Lambda runtime (`kairos validate` should not link a Lambda runtime).
def dependencies(package):
    tree = subprocess.check_output(
        ["cargo", "tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none"],
        text=True)
    return {line.split()[0] for line in tree.splitlines() if line.strip()}

for package, banned in [("kairos-core", ("aws-", "lambda", "tokio", "axum")),
                        ("kairos-api", ("aws-", "lambda")),
                        ("kairos", ("lambda_runtime", "lambda_http"))]:
    for dep in sorted(dependencies(package)):
        if dep.startswith(banned) and dep != package:
            failures.append(f"{package} depends on {dep}")

files = subprocess.check_output(["git", "ls-files", "-z"], text=True).split("\0")
for name in filter(None, files):
    try:
        with open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue  # deleted in the work tree, not yet committed
    if len(data) > 1_000_000:
        failures.append(f"{name}: {len(data)} bytes in git (over 1 MB)")
    if re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", data) or \
            re.search(r"(^|/)(\.kairos|\.aws-sam)/|(unsubscribe-secret|store-key|kairos\.db)$", name):
        failures.append(f"{name}: looks like a secret or local data")

for failure in failures:
    print(failure, file=sys.stderr)
sys.exit(1 if failures else 0)
