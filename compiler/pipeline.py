"""The checking pipeline that `validate`, `graph` and `compile` share:
file -> Document -> schema diagnostics -> Platform -> semantic diagnostics,
for the base platform and for every environment's overrides."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date

from crosswalk.compiler.checks import (
    check_app_builds,
    check_environment_names,
    check_overrides,
    check_platform,
)
from crosswalk.compiler.diagnostics import Diagnostic, Report, Span
from crosswalk.compiler.document import Document, load_document
from crosswalk.compiler.model import (
    Environment,
    Platform,
    build_platform,
    merge_overrides,
    place_environments,
)
from crosswalk.compiler.validate import validate_document


@dataclass
class EnvironmentView:
    """The document as one environment sees it: merged data, with positions of
    overridden values pointing at the override that set them."""

    base: Document
    data: dict
    origins: dict[tuple, tuple]
    overrides_path: tuple

    @property
    def file(self) -> str:
        return self.base.file

    @property
    def text(self) -> str:
        return self.base.text

    def span(self, path: tuple, *, key: bool = False) -> Span:
        path = tuple(path)
        for cut in range(len(path), -1, -1):
            origin = self.origins.get(path[:cut])
            if origin is not None:
                return self.base.span(self.overrides_path + origin + path[cut:], key=key)
        return self.base.span(path, key=key)

    def overridden(self, path: tuple) -> bool:
        path = tuple(path)
        return any(path[:cut] in self.origins for cut in range(len(path), -1, -1))


@dataclass
class CheckResult:
    document: Document | None
    platform: Platform | None
    report: Report
    # The platform as each environment sees it (overrides applied), when checked clean.
    environments: dict[str, Platform] = field(default_factory=dict)
    # Digests of the parts that passed the schema (see validate_document).
    valid: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.platform is not None and not self.report.errors


def check_document(
    document: Document, known: Collection[str] = (), today: date | None = None
) -> CheckResult:
    """`known`: digests of parts a previous check found valid (a recompile
    passes the last compile's); those parts skip the schema. `today`: the day
    version support is judged on (see checks.check_platform)."""
    report = Report()
    valid: set[str] = set()
    report.extend(validate_document(document, known=known, valid=valid))
    if report.errors:
        return CheckResult(document, None, report)
    memo: dict = {}  # sections filled with defaults, shared with the environments
    platform = build_platform(document.data, memo)
    base = check_platform(document, platform, today)
    report.extend(base)
    environments = {}
    for env in platform.environments:
        if env.overrides:
            found, seen_as = _check_environment(document, env, base, known, valid, memo, today)
            report.extend(found)
            environments[env.name] = seen_as
        else:
            environments[env.name] = platform
    if report.errors:
        environments = {}
    else:
        environments = place_environments(environments)
        report.extend(check_environment_names(document, environments))
        report.extend(check_app_builds(document, environments))
        if report.errors:
            environments = {}
    return CheckResult(document, platform, report, environments, valid)


def _check_environment(
    document: Document,
    env: Environment,
    base: list[Diagnostic],
    known: Collection[str],
    valid: set[str],
    memo: dict,
    today: date | None,
) -> tuple[list[Diagnostic], Platform | None]:
    """The environment's overrides must fit the platform (CW310); then the
    platform as the environment sees it is validated and checked like the
    base. What the base already reports is not repeated; what only this
    environment gets wrong says so."""
    found = check_overrides(document, env)
    if found:
        return found, None
    merged, origins = merge_overrides(document.data, env.overrides)
    view = EnvironmentView(document, merged, origins, env.path + ("overrides",))
    found = validate_document(view, sections=set(env.overrides), known=known, valid=valid)
    seen_as = None
    if not found:
        seen_as = build_platform(merged, memo)
        found = check_platform(view, seen_as, today)
    seen = {_identity(d) for d in base}
    return [
        replace(d, message=f"{d.message} (in environment '{env.name}')")
        for d in found
        if _identity(d) not in seen
    ], seen_as


def _identity(d: Diagnostic) -> tuple:
    return (d.code, d.span, d.path, d.message)


def check_file(file: str, today: date | None = None) -> CheckResult:
    """Load and check one platform.yaml. Raises LoadError when it cannot be read."""
    document, diagnostics = load_document(file)
    if document is None:
        return CheckResult(None, None, Report(list(diagnostics)))
    return check_document(document, today=today)
