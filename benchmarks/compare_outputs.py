"""Fingerprints of matcher's outputs, to show that a change of code leaves them unchanged.

Runs the command line on the shipped instances and on generated benchmark instances
(every method, backend and cap mode that applies) and records a SHA-256 per output file.
``summary.json`` is fingerprinted without its ``timings_s`` block (times vary) and with
the instance's folder name instead of its path; every other file byte for byte.

    python -m benchmarks.compare_outputs --record before.json   # on the old code
    python -m benchmarks.compare_outputs --check before.json    # on the new code: exit 1 on a difference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JAPAN = ROOT / "instances" / "policies" / "japan-2026.toml"

#: (name, instance, extra arguments of ``matcher solve`` or ``matcher transfer``).
RUNS: list[tuple[str, str, list[str]]] = [
    ("tiny", "tiny", []),
    ("tiny-stable", "tiny", ["--method", "stable"]),
    ("sample-core", "sample", ["--policy", str(JAPAN), "--save-state"]),
    ("sample-ortools", "sample", ["--policy", str(JAPAN), "--backend", "ortools"]),
    ("sample-cpsat", "sample", ["--policy", str(JAPAN), "--backend", "cpsat"]),
    ("sample-mip", "sample", ["--policy", str(JAPAN), "--backend", "mip"]),
    ("sample-lagrange", "sample", ["--policy", str(JAPAN), "--backend", "lagrange"]),
    ("sample-stable", "sample", ["--policy", str(JAPAN), "--method", "stable", "--seed", "3"]),
    (
        "sample-stable-employer",
        "sample",
        ["--policy", str(JAPAN), "--method", "stable", "--proposing", "employer"],
    ),
    ("sample-parquet", "sample", ["--policy", str(JAPAN), "--format", "parquet"]),
    ("gen10k-core", "gen10k", ["--policy", str(JAPAN)]),
    ("gen10k-stable", "gen10k", ["--policy", str(JAPAN), "--method", "stable"]),
    ("transfer-tiny", "transfer-tiny", ["transfer"]),
    ("transfer-tiny-japan", "transfer-tiny", ["transfer", "--policy", str(JAPAN), "--seed", "3"]),
]


def _matcher(*args: str) -> None:
    cmd = [sys.executable, "-m", "matcher", *args, "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")


def _fingerprint(directory: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "summary.json":
            doc = json.loads(data)
            doc.pop("timings_s", None)
            if isinstance(doc.get("instance"), dict):  # a generated instance lives in a temporary path
                doc["instance"]["source"] = Path(doc["instance"]["source"]).name
            data = json.dumps(doc, sort_keys=True).encode()
        out[str(path.relative_to(directory))] = hashlib.sha256(data).hexdigest()
    return out


def fingerprints() -> dict[str, Any]:
    """Run every case in a temporary directory; the fingerprints by case and file."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        instances = {name: ROOT / "instances" / name for name in ("tiny", "sample", "transfer-tiny")}
        instances["gen10k"] = work / "gen10k"
        _matcher("generate", str(instances["gen10k"]), "--candidates", "10000", "--employers", "600",
                 "--seed", "7", "--unlisted-share", "0.05", "--format", "parquet")  # fmt: skip
        result: dict[str, Any] = {"gen10k-instance": _fingerprint(instances["gen10k"])}
        for name, inst, args in RUNS:
            out = work / "out" / name
            command = ["transfer"] if args[:1] == ["transfer"] else ["solve"]
            rest = args[1:] if command == ["transfer"] else args
            _matcher(*command, str(instances[inst]), "--out", str(out), *rest)
            result[name] = _fingerprint(out)
            print(f"{name}: {len(result[name])} files", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path, help="write the fingerprints to this JSON file")
    group.add_argument("--check", type=Path, help="compare with fingerprints recorded earlier")
    args = parser.parse_args()
    now = fingerprints()
    if args.record:
        args.record.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in now.values())} files of {len(now)} cases to {args.record}")
        return
    before = json.loads(args.check.read_text())
    diffs = [
        f"{case}/{name}"
        for case in sorted(set(before) | set(now))
        for name in sorted(set(before.get(case, {})) | set(now.get(case, {})))
        if before.get(case, {}).get(name) != now.get(case, {}).get(name)
    ]
    if diffs:
        print("outputs differ:\n  " + "\n  ".join(diffs))
        raise SystemExit(1)
    print(f"identical: {sum(len(v) for v in now.values())} files of {len(now)} cases")


if __name__ == "__main__":
    main()
