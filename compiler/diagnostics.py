"""Diagnostics: what every stage reports instead of raising.

A diagnostic carries the file, line and column taken from the YAML node it is
about, never computed at the call site. Codes are grouped by stage; the table
below is the one list of them (the README renders it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

ERROR = "error"
WARNING = "warning"

# code -> short title. One table for the whole tool.
CODES: dict[str, str] = {
    # CW0xx: loading the file
    "CW001": "file is too large",
    "CW002": "file is not valid UTF-8",
    "CW003": "YAML syntax error",
    "CW004": "tab character in indentation",
    "CW005": "duplicate key",
    "CW006": "key is not a string",
    "CW007": "document root is not a mapping",
    "CW008": "file is empty",
    "CW009": "aliases expand beyond the size limit",
    "CW010": "more than one YAML document",
    "CW011": "unsupported YAML tag",
    "CW012": "number too long to read",
    # CW1xx: the JSON Schema
    "CW101": "unknown key",
    "CW102": "wrong type",
    "CW103": "missing required key",
    "CW104": "value not among the allowed ones",
    "CW105": "value does not match the expected format",
    "CW106": "value out of range",
    "CW107": "value does not match the schema",
    "CW108": "wrong fixed value",
    # CW2xx: names
    "CW201": "duplicate name",
    "CW202": "renamedFrom names a name in use",
    # CW3xx: references and consistency
    "CW301": "unknown namespace",
    "CW302": "unknown team",
    "CW303": "unknown datastore",
    "CW304": "unknown app",
    "CW305": "app ingress needs appServices.ingress",
    "CW306": "ingress host needs appServices.dns and appServices.certificates",
    "CW307": "invalid CIDR",
    "CW308": "overlapping CIDRs",
    "CW309": "minimum above maximum",
    "CW310": "environment override touches a path that does not exist",
    "CW311": "ingress host outside the DNS zone",
    "CW312": "secrets provider does not fit the state backend",
    "CW313": "relative file backend left out of Pulumi.yaml",
    "CW320": "unknown node pool",
    "CW321": "key does not apply to the app's kind",
    "CW322": "invalid cron schedule",
    "CW323": "volume does not fit its type or mount path",
    "CW324": "persistent volume shared by several pods of a deployment",
    "CW325": "image names no digest where digests are required",
    "CW314": "unknown bucket",
    "CW315": "bucket lifecycle ages contradict each other",
    "CW330": "unknown warehouse",
    "CW331": "pipeline source is not a queue or a stream",
    "CW332": "built app's image is not in its registry repository",
    # CW4xx: the dependency graph
    "CW401": "dependency cycle",
    "CW402": "dependency from a higher layer to a lower one",
    # CW5xx: provider constraints
    "CW501": "missing cloud setting",
    "CW502": "unknown region",
    "CW503": "machine type does not belong to the cloud",
    "CW504": "setting does not apply to this cloud",
    "CW505": "cloud not supported by compile yet",
    "CW506": "address range too small for the cluster",
    "CW507": "member is not a principal of the cloud",
    "CW508": "datastore version or class not offered by the cloud",
    "CW509": "name not usable for the cloud's resources",
    "CW510": "Google Groups of several domains",
    "CW511": "machine type does not fit the node pool",
    "CW512": "Kubernetes version not offered by the cloud",
    "CW513": "tag not allowed by the cloud",
    "CW514": "more zones than the region offers",
    "CW515": "CI identity's deploy policy too large for one AWS role",
    "CW516": "warehouse needs more zones than the network has",
    "CW530": "VM image family not offered on the cloud",
    # CW6xx: secure defaults relaxed on purpose (warnings)
    "CW601": "public API endpoint open to the internet",
    "CW602": "namespace allows privileged pods",
    "CW603": "namespace network policy allows all traffic",
    "CW604": "namespace has no resource quota",
    "CW605": "registry scanning or tag immutability turned off",
    "CW607": "ingress controller retired upstream",
    "CW608": "policy engine turned off",
    "CW609": "Kubernetes version near or past its end of standard support",
    "CW610": "policy engine audits instead of enforcing",
    "CW611": "deletion protection turned off",
    "CW612": "Binary Authorization turned off",
    "CW615": "encryption at host turned off",
    "CW616": "OS disk too large for the VM size's local disk",
    "CW618": "team without members grants nothing",
    "CW619": "datastore enhanced monitoring turned off",
    "CW620": "image tagged latest",
    "CW621": "env variable looks like a secret",
    "CW622": "secret given as an environment variable",
    "CW630": "VM with a public address",
    "CW631": "bucket readable by anyone",
    "CW801": "CI: a layer no automation entry of the platform's repository deploys",
    "CW802": "CI: an automation entry trusts no branch the deploy workflow runs on",
    "CW803": "CI: no state backend the runners share",
    "CW804": "CI: two automation entries would share a repository variable",
    "CW805": "CI: the Azure state's container or key cannot be granted",
}


class Span(NamedTuple):
    """A 1-based line and column in a source file (a tuple: the loader makes
    tens of thousands, and tuples are cheap to make, compare and order)."""

    line: int
    column: int


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    code: str
    message: str
    span: Span | None = None
    path: str = ""
    help: str | None = None
    file: str = ""

    def sort_key(self) -> tuple:
        span = self.span or Span(0, 0)
        return (self.file, span.line, span.column, self.code, self.message)

    def render(self) -> str:
        where = self.file
        if self.span is not None:
            where = f"{self.file}:{self.span.line}:{self.span.column}"
        subject = f"{self.path}: " if self.path else ""
        text = f"{where}: {self.severity}[{self.code}]: {subject}{self.message}"
        if self.help:
            text += f"\n  help: {self.help}"
        return text

    def as_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "help": self.help,
        }


@dataclass
class Report:
    """Diagnostics gathered over the stages for one file."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def extend(self, items: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == WARNING]

    def sorted(self) -> list[Diagnostic]:
        unique = {(d.sort_key(), d.severity, d.path, d.help): d for d in self.diagnostics}
        return [unique[key] for key in sorted(unique)]


def render_text(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.render() for d in diagnostics)


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([d.as_json() for d in diagnostics], indent=2, ensure_ascii=False)


def _github_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """A workflow command's property value: data escapes plus `:` and `,`."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: list[Diagnostic]) -> str:
    """One GitHub Actions workflow command per problem (`::error file=F,line=L,
    col=C,title=T::message`): GitHub shows each as an annotation on the pull
    request's diff, at the offending key."""
    lines = []
    for d in diagnostics:
        where = [f"file={_github_property(d.file)}"] if d.file else []
        if d.span is not None:
            where += [f"line={d.span.line}", f"col={d.span.column}"]
        where.append(f"title={_github_property(f'crosswalk {d.code}')}")
        message = (f"{d.path}: " if d.path else "") + d.message
        if d.help:
            message += f"\nhelp: {d.help}"
        command = "error" if d.severity == ERROR else "warning"
        lines.append(f"::{command} {','.join(where)}::{_github_data(message)}")
    return "\n".join(lines)


_LINE_BREAK = re.compile("\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """The lines of a file as editors number them: broken at LF, CRLF and CR
    only (str.splitlines also breaks at U+0085, U+2028 and others, which
    editors show inside a line); a final line break ends the last line."""
    lines = _LINE_BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def format_path(path: tuple) -> str:
    """('apps', 0, 'namespace') -> 'apps[0].namespace'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text
