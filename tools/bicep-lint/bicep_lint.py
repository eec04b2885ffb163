"""Parse the Bicep files, and scan them, the workflows and the Dockerfiles with Checkov.

Subcommands:
  parse [--json] PATH...   Parse every .bicep file (directories are searched recursively) with
                           pycep-parser. Exit 1 and name each file that does not parse. With
                           --json, print {"files": {path: tree}} for the tests in test/bicep.
  checkov [--framework F] DIR
                           Run Checkov's checks for framework F (bicep by default,
                           github_actions or dockerfile) on DIR. Exit 1 on any failed
                           check, on any file Checkov could not parse (Checkov itself
                           exits 0 then), on a scan that found nothing to check, and on
                           any inline suppression without a reason.

Each subcommand runs in its own virtualenv (see the Makefile), because Checkov pins an older
pycep-parser than the one `parse` uses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Checkov fills this in when a `checkov:skip=ID` comment has no `: reason` part.
CHECKOV_NO_REASON = "No comment provided"


def find_bicep_files(paths: list[str]) -> list[Path]:
    """Expand directories into the .bicep files below them, sorted for stable output."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.bicep")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{raw}: no such file or directory")
    return files


def run_parse(args: argparse.Namespace) -> int:
    # Imported here so that the checkov subcommand does not depend on this parser version.
    from pycep import BicepParser

    parser = BicepParser(add_line_numbers=False)
    files = find_bicep_files(args.paths)
    if not files:
        print(f"bicep-lint: no .bicep files under {' '.join(args.paths)}", file=sys.stderr)
        return 1

    trees: dict[str, object] = {}
    failures: list[str] = []
    for path in files:
        try:
            trees[str(path)] = parser.parse(file_path=path)
        except Exception as err:  # pycep raises ValueError and lark's exceptions alike.
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            failures.append(f"{path}: does not parse: {first_line}")

    for failure in failures:
        print(f"bicep-lint: {failure}", file=sys.stderr)
    if args.json:
        json.dump({"files": trees}, sys.stdout, default=str)
        sys.stdout.write("\n")
    else:
        print(f"bicep-lint: parsed {len(trees)} of {len(files)} .bicep files")
    return 1 if failures else 0


def run_checkov(args: argparse.Namespace) -> int:
    checkov = Path(sys.executable).with_name("checkov")
    command = [
        str(checkov),
        "--directory", args.directory,
        "--framework", args.framework,
        # Use only the checks shipped in the package: no download of platform policies.
        "--skip-download",
        "--output", "json",
    ]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode not in (0, 1):
        print(f"bicep-lint: checkov failed with exit status {completed.returncode}:\n{completed.stderr}",
              file=sys.stderr)
        return 1
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError as err:
        print(f"bicep-lint: checkov printed no JSON report ({err}):\n{completed.stdout[:2000]}",
              file=sys.stderr)
        return 1
    if isinstance(report, list):
        # Checkov prints a list when it ran several frameworks, and an empty one when it
        # found no file to scan.
        if not report:
            print(f"bicep-lint: checkov ran no check: {args.directory} holds no {args.framework} file",
                  file=sys.stderr)
            return 1
        return max(check_report(item) for item in report)
    return check_report(report)


def check_report(report: dict) -> int:
    """Print the problems in one Checkov JSON report and return the exit status."""
    summary = report.get("summary", {})
    results = report.get("results", {})
    problems: list[str] = []

    for failed in results.get("failed_checks", []):
        problems.append(f"{failed['file_path']}:{failed['file_line_range'][0]}: {failed['check_id']} "
                        f"failed for {failed['resource']}: {failed['check_name']}")
    for path in results.get("parsing_errors", []):
        problems.append(f"{path}: checkov could not parse the file, so none of its checks ran")
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result", {}).get("suppress_comment") or "").strip()
        if not reason or reason == CHECKOV_NO_REASON:
            problems.append(f"{skipped['file_path']}:{skipped['file_line_range'][0]}: "
                            f"{skipped['check_id']} is suppressed without a reason; "
                            f"write it as `checkov:skip={skipped['check_id']}: <reason>`")

    if summary.get("passed", 0) + summary.get("failed", 0) + summary.get("skipped", 0) == 0:
        problems.append("checkov ran no check: the directory holds no file of this framework")

    for problem in problems:
        print(f"bicep-lint: {problem}", file=sys.stderr)
    print(f"bicep-lint: checkov {summary.get('checkov_version', '?')}: "
          f"{summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
          f"{summary.get('skipped', 0)} suppressed with a reason, "
          f"{summary.get('parsing_errors', 0)} parsing errors")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bicep-lint", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    parse = commands.add_parser("parse", help="parse .bicep files with pycep-parser")
    parse.add_argument("--json", action="store_true", help="print the parsed trees as JSON")
    parse.add_argument("paths", nargs="+", help=".bicep files or directories")
    parse.set_defaults(run=run_parse)

    scan = commands.add_parser("checkov", help="run Checkov's checks")
    scan.add_argument("--framework", default="bicep", choices=["bicep", "github_actions", "dockerfile"],
                      help="Checkov framework to run")
    scan.add_argument("directory", help="directory to scan")
    scan.set_defaults(run=run_checkov)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FileNotFoundError as err:
        print(f"bicep-lint: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
