"""Run kubernetes-validate (strict) and checkov on a directory of manifests.

Runs with the checkers' own Python (.venv-checkers):
`check.py DIR SKIPPED_CHECKS KUBERNETES_VERSION`; prints one JSON object:
{"invalid": [...], "unvalidated": [...], "failed_checks": [...], "resources": N}.

Custom resources whose schema is known here are validated too: Gatekeeper's
ConstraintTemplates (against the v1 API's required shape) and every
Constraint (against its own template's parameters schema).
"""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

# templates.gatekeeper.sh/v1 ConstraintTemplate: what Gatekeeper requires of one.
CONSTRAINT_TEMPLATE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "templates.gatekeeper.sh/v1"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]+$"}},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["crd", "targets"],
            "properties": {
                "crd": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["names"],
                            "properties": {
                                "names": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["kind"],
                                    "properties": {"kind": {"type": "string"}},
                                },
                                "validation": {
                                    "type": "object",
                                    "properties": {"openAPIV3Schema": {"type": "object"}},
                                },
                            },
                        }
                    },
                },
                "targets": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["target", "rego"],
                        "properties": {
                            "target": {"const": "admission.k8s.gatekeeper.sh"},
                            "rego": {"type": "string", "pattern": "^package [a-z0-9]+\n"},
                            "libs": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}

# constraints.gatekeeper.sh/v1beta1: the fields every Constraint has.
CONSTRAINT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "constraints.gatekeeper.sh/v1beta1"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enforcementAction": {"enum": ["deny", "dryrun", "warn"]},
                "match": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "kinds": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "apiGroups": {"type": "array", "items": {"type": "string"}},
                                    "kinds": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                        "namespaces": {"type": "array", "items": {"type": "string"}},
                        "excludedNamespaces": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "parameters": {"type": "object"},
            },
        },
    },
}


def _schema_errors(document: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, error.path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _custom_schemas(documents: list[dict]) -> dict:
    """kind -> its schema, for the custom resources known here."""
    schemas = {"ConstraintTemplate": CONSTRAINT_TEMPLATE}
    for document in documents:
        if document.get("kind") != "ConstraintTemplate":
            continue
        crd = document["spec"]["crd"]["spec"]
        parameters = crd.get("validation", {}).get("openAPIV3Schema", {"type": "object"})
        schema = json.loads(json.dumps(CONSTRAINT))
        schema["properties"]["spec"]["properties"]["parameters"] = parameters
        schema["properties"]["kind"] = {"const": crd["names"]["kind"]}
        schemas[crd["names"]["kind"]] = schema
    return schemas


def main() -> None:
    directory = Path(sys.argv[1])
    skips = sys.argv[2] if len(sys.argv) > 2 else ""
    version = sys.argv[3]
    invalid, unvalidated, count = [], [], 0
    loaded = [
        (path, document)
        for path in sorted(directory.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    custom = _custom_schemas([document for _, document in loaded])
    for path, document in loaded:
        count += 1
        name = f"{path.name} {document['kind']}/{document['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if document["kind"] in custom:
                invalid += [
                    f"{name}: {e}" for e in _schema_errors(document, custom[document["kind"]])
                ]
                if document["kind"] == "ConstraintTemplate":
                    kind = document["spec"]["crd"]["spec"]["names"]["kind"]
                    if document["metadata"]["name"] != kind.lower():
                        invalid.append(f"{name}: metadata.name must be {kind.lower()}")
            else:
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
