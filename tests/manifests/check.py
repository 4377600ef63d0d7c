"""Run kubernetes-validate (strict) and checkov on a directory of manifests.

Runs with the checkers' own Python (.venv-checkers); prints one JSON object:
{"invalid": [...], "unvalidated": [...], "failed_checks": [...], "resources": N}.
"""

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33"


def main() -> None:
    directory = Path(sys.argv[1])
    skips = sys.argv[2] if len(sys.argv) > 2 else ""
    invalid, unvalidated, count = [], [], 0
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            count += 1
            name = f"{path.name} {document['kind']}/{document['metadata'].get('name')}"
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                unvalidated.append(name)
            except kubernetes_validate.ValidationError as error:
                invalid.append(f"{name}: {'.'.join(map(str, error.path))}: {error.message}")
    command = [
        str(Path(sys.executable).with_name("checkov")),
        "-d",
        str(directory),
        "--framework",
        "kubernetes",
        "-o",
        "json",
        "--skip-download",
        "--quiet",
    ]
    if skips:
        command += ["--skip-check", skips]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for part in reports
        for check in part.get("results", {}).get("failed_checks", [])
    ]
    parsed = sum(part.get("summary", {}).get("resource_count", 0) for part in reports)
    print(
        json.dumps(
            {
                "resources": count,
                "checkov_resources": parsed,
                "invalid": invalid,
                "unvalidated": unvalidated,
                "failed_checks": failed,
            }
        )
    )


if __name__ == "__main__":
    main()
