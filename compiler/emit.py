"""Emission: Platform + ResourceGraph -> {relative path: file text} (pure).

The core owns layout, headers, ordering, config and stack references; a
provider backend fills each layer's program with its cloud's resources, and
the Kubernetes objects every cloud shares come from `kubernetes`. Writing the
map to disk is `write_tree`'s job (see writer.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from crosswalk.compiler.codegen import Code, Program, call_statement, py_string
from crosswalk.compiler.graph import ResourceGraph, stack_layer
from crosswalk.compiler.model import Platform
from crosswalk.compiler.stack_cache import (
    CACHE_FILE,
    StackCache,
    _previous_cache,
    _write_cache,
)
from crosswalk.compiler.stackconfig import KEY_SERVICES, OwnedKeys, render_stack_config, scalar

# The SDK versions the tests ran against; generated requirements pin them.
SDK_VERSIONS = {
    "pulumi": "3.272.0",
    "pulumi-aws": "7.51.1",
    "pulumi-eks": "4.4.0",
    "pulumi-gcp": "10.2.0",
    "pulumi-azure-native": "3.29.0",
    "pulumi-kubernetes": "4.34.2",
    "pulumi-random": "4.21.4",
}


def project_name(platform: Platform, stack: str) -> str:
    """The Pulumi project of a stack directory. A renamed app keeps the project
    of the name it was created under (`renamedFrom`), so its stack and state
    stay where they are while its directory takes the new name."""
    if stack.startswith("06-apps/"):
        name = stack.split("/", 1)[1]
        app = platform.app(name)
        return app_project_prefix(platform) + (app.cloud_name if app is not None else name)
    return f"{platform.name}-{stack_layer(stack)}"


def app_project_prefix(platform: Platform) -> str:
    """What the Pulumi project of every app starts with (and, as a pattern,
    matches `<platform>-app-services` too)."""
    return f"{platform.name}-app-"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def yaml_path(data: object, path: tuple) -> str:
    """`path` as a reader finds it in platform.yaml: keys joined by dots, list
    items by their name (`apps.storefront.ingress`), else by index (`[0]`).

    It names the setting, not where it sits in the file, so comments, blank
    lines and key order never change it; any other key is quoted
    (`tags["example.com/team"]`), so no text from the file can end the
    comment it goes into."""
    parts: list[str] = []
    node = data
    for key in path:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and _PLAIN_KEY.fullmatch(name):
                parts.append("." + name)
            else:
                parts.append(f"[{key}]")
            node = item
            continue
        key = str(key)
        parts.append("." + key if _PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key)}]")
        node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts).removeprefix(".")


@dataclass
class StackContext:
    """What a backend needs to write one stack's program.

    `platforms` holds the platform as each environment sees it (overrides
    applied). A value that is the same everywhere enters the program as a
    literal; one that differs becomes config in Pulumi.<env>.yaml, so the
    program text is the same for every environment.
    """

    stack: str
    project: str
    platform: Platform
    platforms: dict[str, Platform]
    program: Program
    data: dict  # platform.yaml as loaded: what `line` names paths in
    references: dict[str, Code] = field(default_factory=dict)
    reads: dict[str, dict[str, Code]] = field(default_factory=dict)
    config: dict[str, dict[str, object]] = field(default_factory=dict)
    settings: dict[str, tuple[Code, str]] = field(default_factory=dict)  # key -> (var, reader)
    reads_apps: bool = False  # a layer's program looked at the platform's apps
    # What the program changes that its cloud changes one change at a time
    # (an Azure Redis cache's access policies): no two stacks marked alike run at once.
    one_at_a_time: set[str] = field(default_factory=set)

    def line(self, path: tuple) -> str:
        """The citation of `path` for a generated comment: its YAML path
        (`apps.storefront.ingress`, see `yaml_path`), never a line number."""
        return yaml_path(self.data, tuple(path))

    def setting(self, key: str, value_in) -> object:
        """`value_in(platform, env)` for every environment: a literal when they
        agree, else a typed config read whose values go to Pulumi.<env>.yaml."""
        values = {env: value_in(p, env) for env, p in sorted(self.platforms.items())}
        distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
        if len(distinct) == 1:
            return next(iter(values.values()))
        if key not in self.config:
            reader = _reader_of(next(iter(values.values())))
            self.settings[key] = (self.program.name(key), reader)
        self.config[key] = values
        return self.settings[key][0]

    def upstream(self, stack: str, output: str) -> Code:
        """An output of an upstream stack, read through its StackReference."""
        if stack not in self.references:
            var = self.program.name(
                stack_layer(stack) if not stack.startswith("06-") else stack, "stack"
            )
            self.references[stack] = var
        reads = self.reads.setdefault(stack, {})
        if output not in reads:
            reads[output] = self.program.name(output)
        return reads[output]


Emitter = Callable[[StackContext], None]

# The Backend field that fills each stack directory's program.
LAYER_EMITTERS = {
    "01-identity": "identity",
    "02-managed-infra": "managed_infra",
    "03-cluster": "cluster",
    "04-cluster-services": "cluster_services",
    "05-app-services": "app_services",
    "06-apps": "app",
}


@dataclass(frozen=True)
class Backend:
    """What a cloud provides: for each layer, the function that fills that
    layer's program, and `app` for each app's own stack. Each cloud's package
    (`crosswalk.providers.<cloud>`) assembles one in its `backend()`."""

    cloud: str
    identity: Emitter
    managed_infra: Emitter
    cluster: Emitter
    cluster_services: Emitter
    app_services: Emitter
    app: Emitter

    def emit_layer(self, ctx: StackContext) -> None:
        getattr(self, LAYER_EMITTERS[ctx.stack.split("/")[0]])(ctx)


# Where each Backend field's function lives in a cloud's package:
# crosswalk.providers.<cloud>.<module>.emit_<field>.
LAYER_MODULES = {
    "identity": "identity",
    "managed_infra": "managed_infra",
    "cluster": "cluster",
    "cluster_services": "cluster_services",
    "app_services": "app_services",
    "app": "apps",
}


def assemble_backend(cloud: str, wrap: Callable[[Callable], Emitter] | None = None) -> Backend:
    """A cloud's Backend from its package's layer modules (see LAYER_MODULES);
    `wrap` adapts each emitter where a cloud writes through a helper object."""
    import importlib

    emitters = {}
    for name, module in LAYER_MODULES.items():
        emit = getattr(
            importlib.import_module(f"crosswalk.providers.{cloud}.{module}"), f"emit_{name}"
        )
        emitters[name] = wrap(emit) if wrap else emit
    return Backend(cloud, **emitters)


def backend_for(cloud: str) -> Backend:
    """Import a cloud's backend only when a platform names it."""
    import importlib

    try:
        module = importlib.import_module(f"crosswalk.providers.{cloud}")
    except ModuleNotFoundError as exc:
        if exc.name != f"crosswalk.providers.{cloud}":
            raise
        raise BackendMissing(cloud) from None
    return module.backend()


class BackendMissing(Exception):
    """This version of crosswalk cannot compile for the cloud (yet)."""

    def __init__(self, cloud: str):
        super().__init__(cloud)
        self.cloud = cloud


def emit_programs(
    platform: Platform,
    platforms: dict[str, Platform],
    resources: ResourceGraph,
    data: dict,
    stacks: list[str] | None = None,
    source_name: str = "platform.yaml",
) -> dict[str, StackContext]:
    """Run the backend for each stack (all, or `stacks`), in stack order."""
    backend = backend_for(platform.cloud.provider)
    wanted = None if stacks is None else set(stacks)
    contexts: dict[str, StackContext] = {}
    for stack in resources.stack_order():
        if wanted is not None and stack not in wanted:
            continue
        project = project_name(platform, stack)
        title = (
            f"{project}: the {stack_layer(stack)} layer of platform {platform.name}."
            if not stack.startswith("06-")
            else f"{project}: app {stack.split('/', 1)[1]} of platform {platform.name}."
        )
        shown, shown_per_env, seen = platform, platforms, [False]
        if not stack.startswith("06-"):
            # A layer sees apps that note being looked at (see StackCache).
            watched = {id(p): _watching_apps(p, seen) for p in (platform, *platforms.values())}
            shown = watched[id(platform)]
            shown_per_env = {env: watched[id(p)] for env, p in platforms.items()}
        ctx = StackContext(stack, project, shown, shown_per_env, Program(title, source_name), data)
        backend.emit_layer(ctx)
        ctx.reads_apps = seen[0]
        contexts[stack] = ctx
    return contexts


class _WatchedApps(tuple):
    """A platform's apps that note when anything looks at them: whether a
    layer's program depends on the apps at all is then known, not assumed."""

    _seen: list

    def __new__(cls, apps, seen: list):
        watched = super().__new__(cls, apps)
        watched._seen = seen
        return watched

    def __reduce_ex__(self, protocol):
        # A copy is a plain tuple of the apps; making one is looking at them.
        self._seen[0] = True
        return tuple, (tuple(self),)


def _noting(name: str):
    method = getattr(tuple, name)

    def noted(self, *args):
        self._seen[0] = True
        return method(self, *args)

    noted.__name__ = name
    return noted


for _name in (
    "__iter__", "__getitem__", "__len__", "__contains__", "__eq__", "__ne__", "__lt__",
    "__le__", "__gt__", "__ge__", "__hash__", "__add__", "__mul__", "__rmul__", "__repr__",
    "index", "count",
):  # fmt: skip
    setattr(_WatchedApps, _name, _noting(_name))


def _watching_apps(platform: Platform, seen: list) -> Platform:
    return dataclasses.replace(platform, apps=_WatchedApps(platform.apps, seen))


def program_body(ctx: StackContext) -> tuple:
    """What a stack's program creates, before exports are chosen."""
    program = ctx.program
    return (
        tuple(program.statements),
        tuple(sorted(program.imports)),
        tuple(sorted(program.helpers)),
    )


def _exports_now_wanted(contexts: dict, kept: dict[str, dict]) -> dict[str, set]:
    """What each carried-over stack's consumers read now."""
    wanted = wanted_outputs(contexts, kept)
    return {stack: wanted.get(stack, set()) for stack in kept}


def wanted_outputs(contexts: dict[str, StackContext], kept: dict[str, dict]) -> dict[str, set]:
    """The outputs each stack's consumers read: what it must export."""
    wanted: dict[str, set[str]] = {}
    reads_of = {stack: ctx.reads for stack, ctx in contexts.items()}
    reads_of.update({stack: entry["reads"] for stack, entry in kept.items()})
    for reads in reads_of.values():
        for upstream, outputs in reads.items():
            wanted.setdefault(upstream, set()).update(outputs)
    return wanted


def emit_projects(
    platform: Platform,
    platforms: dict[str, Platform],
    resources: ResourceGraph,
    data: dict,
    source_name: str = "platform.yaml",
    contexts: dict[str, StackContext] | None = None,
    kept: dict[str, dict] | None = None,
    inputs: dict[str, str] | None = None,
    valid: Collection[str] = (),
) -> dict[str, str]:
    """Every file of the compiled tree, keyed by its path relative to OUT.

    `kept` maps stacks whose files are carried over from the previous compile
    (see `StackCache`) to their cache entries; their files are not in the result.
    """
    kept = kept or {}
    if contexts is None:
        contexts = emit_programs(platform, platforms, resources, data, None, source_name)

    # Each stack exports exactly what its consumers read.
    wanted = wanted_outputs(contexts, kept)
    files: dict[str, str] = {}
    stacks_meta = []
    for stack in resources.stack_order():
        if stack in kept:
            stacks_meta.append(
                {
                    "dir": stack,
                    "project": project_name(platform, stack),
                    "layer": stack_layer(stack),
                    "dependsOn": resources.upstream(stack),
                    "hash": kept[stack]["meta"]["hash"],
                    "exports": sorted(wanted.get(stack, ())),
                    "reads": {u: sorted(o) for u, o in sorted(kept[stack]["reads"].items())},
                }
                | {k: v for k, v in kept[stack]["meta"].items() if k == "oneAtATime"}
            )
            continue
        ctx = contexts[stack]
        missing = wanted.get(stack, set()) - set(ctx.program.exports)
        if missing:
            raise RuntimeError(f"{stack} does not offer outputs read downstream: {sorted(missing)}")
        ctx.program.exports = {
            k: v
            for k, v in ctx.program.exports.items()
            if k in wanted.get(stack, set()) or k in ctx.program.public
        }
        stack_files = _project_files(ctx, sorted(platforms))
        ctx.program.statements.clear()  # rendered: 5,000 apps' statements need not wait
        for name, text in sorted(stack_files.items()):
            files[f"{stack}/{name}"] = text
        digest = hashlib.sha256()
        for name, text in sorted(stack_files.items()):
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        stacks_meta.append(
            {
                "dir": stack,
                "project": ctx.project,
                "layer": stack_layer(stack),
                "dependsOn": resources.upstream(stack),
                "hash": "sha256:" + digest.hexdigest(),
                # What it exports and what it reads of each upstream stack:
                # apply checks them against what the deployed stacks read.
                "exports": sorted(wanted.get(stack, ())),
                "reads": {u: sorted(o) for u, o in sorted(ctx.reads.items())},
            }
            | ({"oneAtATime": sorted(ctx.one_at_a_time)} if ctx.one_at_a_time else {})
        )
    manifest = {
        "platform": platform.name,
        "cloud": platform.cloud.provider,
        "environments": sorted(platforms),
        "stacks": stacks_meta,
    }
    state = {
        key: value
        for key, value in (
            ("backend", platform.state_backend),
            ("secretsProvider", platform.state_secrets_provider),
        )
        if value
    }
    if state:  # what `crosswalk apply OUT` uses without platform.yaml
        manifest["state"] = state
    files["crosswalk.stacks.json"] = json.dumps(manifest, indent=2) + "\n"
    files[CACHE_FILE] = StackCache.render(stacks_meta, contexts, kept, inputs or {}, valid, wanted)
    return files


def _prelude(ctx: StackContext) -> list[str]:
    lines = ["config = pulumi.Config()", "stack = pulumi.get_stack()"]
    if ctx.references:
        # The stack's own organization: Pulumi Cloud's, or "organization" on
        # a self-managed backend, with no config to set.
        lines.append("org = pulumi.get_organization()")
    block = ["\n".join(lines)]
    if ctx.settings:
        reads = ["# Values that differ between environments (Pulumi.<env>.yaml)."]
        for key, (var, reader) in sorted(ctx.settings.items()):
            reads.append(call_statement(f"{var} = ", f"config.{reader}", [py_string(key)]))
        block.append("\n".join(reads))
    for upstream, var in sorted(ctx.references.items()):
        project = project_name(ctx.platform, upstream)
        lines = [
            f"# Outputs of {project}.",
            call_statement(
                f"{var} = ",
                "pulumi.StackReference",
                [f"org + {py_string('/' + project + '/')} + stack"],
            ),
        ]
        for output, output_var in sorted(ctx.reads[upstream].items()):
            lines.append(
                call_statement(f"{output_var} = ", f"{var}.require_output", [py_string(output)])
            )
        block.append("\n".join(lines))
    return block


def _project_files(ctx: StackContext, environments: list[str]) -> dict[str, str]:
    program = ctx.program
    program.imports.add("import pulumi")
    program.statements[:0] = _prelude(ctx)
    files = {"__main__.py": program.render(), "Pulumi.yaml": _project_file(ctx)}
    packages = {"pulumi"} | _sdk_packages(program)
    files["requirements.txt"] = "".join(sorted(f"{p}=={SDK_VERSIONS[p]}\n" for p in packages))
    secrets = ctx.platform.state_secrets_provider
    for env in environments:
        owned = stack_config_keys(ctx.project, ctx.config, env, secrets)
        files[f"Pulumi.{env}.yaml"] = render_stack_config(env, ctx.project, owned, secrets)
    return files


def stack_config_keys(
    project: str, config: dict[str, dict[str, object]], env: str, secrets: str | None
) -> OwnedKeys:
    """What crosswalk writes into a stack's Pulumi.<env>.yaml."""
    values = {f"{project}:{key}": per_env[env] for key, per_env in sorted(config.items())}
    key_service = secrets if secrets and secrets.startswith(KEY_SERVICES) else None
    return OwnedKeys(values, key_service)


_CONFIG_TYPES = {"require_int": "integer", "require_bool": "boolean", "require": "string"}


def _project_file(ctx: StackContext) -> str:
    """Pulumi.yaml: the project, its runtime, the backend when the platform
    names one, and every config key the program reads."""
    lines = [
        f"name: {ctx.project}",
        "runtime:",
        "  name: python",
        "  options:",
        "    toolchain: pip",
        "    virtualenv: venv",
        f"description: {json.dumps(ctx.program.title)}",
    ]
    backend = ctx.platform.state_backend
    if backend and not (backend.startswith("file://") and not backend[7:].startswith(("/", "~"))):
        lines += ["backend:", f"  url: {scalar(backend)}"]  # not a relative path: see CW313
    if ctx.settings:
        lines.append("config:")
        for key, (_, reader) in sorted(ctx.settings.items()):
            lines.append(f"  {scalar(key)}:")
            declared = _CONFIG_TYPES.get(reader)
            sample = next(iter(ctx.config[key].values()))
            if declared is None and isinstance(sample, list) and sample:
                kinds = {_CONFIG_TYPES.get(_reader_of(item)) for item in sample}
                if len(kinds) == 1 and None not in kinds:
                    declared = "array"
                    lines += ["    type: array", "    items:", f"      type: {kinds.pop()}"]
            elif declared is not None:
                lines.append(f"    type: {declared}")
            lines.append(
                "    description: "
                + json.dumps(
                    "Differs between environments: crosswalk sets it in each Pulumi.<env>.yaml "
                    "from platform.yaml."
                )
            )
    return "\n".join(lines) + "\n"


def _reader_of(value: object) -> str:
    if isinstance(value, bool):
        return "require_bool"
    if isinstance(value, int):
        return "require_int"
    if isinstance(value, str):
        return "require"
    return "require_object"


def _sdk_packages(program: Program) -> set[str]:
    packages = set()
    for line in program.imports:
        module = line.split()[1].split(".")[0]
        if module.startswith("pulumi_"):
            packages.add(module.replace("_", "-"))
    return packages


@dataclass
class CompileResult:
    report: object  # diagnostics.Report
    files: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    resources: ResourceGraph | None = None
    kept: list[str] = field(default_factory=list)  # stack dirs carried over unchanged
    environments: list[str] = field(default_factory=list)  # every one the platform declares
    secrets_provider: str | None = None  # state.secretsProvider
    removed_stacks: list[str] = field(default_factory=list)  # directories compile removed
    notes: list[str] = field(default_factory=list)  # what it found in OUT and left alone


def compile_document(
    document,
    env: str | None = None,
    previous: dict | None = None,
    source: str | None = None,
    today=None,
) -> CompileResult:
    """Check, graph and emit one loaded document (pure: nothing is written).
    `today` (a date): the day version support is judged on."""
    from crosswalk.compiler.diagnostics import ERROR, Diagnostic, format_path
    from crosswalk.compiler.graph import build_graph, check_graph
    from crosswalk.compiler.pipeline import check_document

    checked = check_document(document, StackCache.known_valid(previous), today)
    report = checked.report
    if not checked.ok:
        return CompileResult(report)
    platform = checked.platform
    resources = build_graph(platform)
    report.extend(check_graph(resources, document))
    if report.errors:
        return CompileResult(report, resources=resources)
    names = [e.name for e in platform.environments]
    if env is not None and env not in names:
        report.extend(
            [
                Diagnostic(
                    ERROR,
                    "CW310",
                    f"environment '{env}' is not declared",
                    document.span(("environments",), key=True),
                    "environments",
                    f"declared: {', '.join(names)}",
                    document.file,
                )
            ]
        )
        return CompileResult(report, resources=resources)
    platforms = {
        name: seen_as
        for name, seen_as in checked.environments.items()
        if env is None or name == env
    }
    source = source or _source_name(document.file)
    inputs = StackCache.fingerprints(document.data, env, source)
    kept = StackCache.reusable(previous, inputs)
    try:
        contexts = emit_programs(
            platform,
            platforms,
            resources,
            document.data,
            [s for s in resources.stack_order() if s not in kept],
            source,
        )
    except BackendMissing as missing:
        report.extend(
            [
                Diagnostic(
                    ERROR,
                    "CW505",
                    f"this version of crosswalk cannot compile for '{missing.cloud}' yet",
                    document.span(("cloud", "provider")),
                    "cloud.provider",
                    "validate works for every cloud; compile supports: aws, azure, gcp",
                    document.file,
                )
            ]
        )
        return CompileResult(report, resources=resources)
    # A carried-over stack must still export exactly what its consumers read;
    # where they now read other outputs, it is emitted after all (with the
    # same inputs its own reads are the same, so this ends).
    while stale := [
        stack
        for stack, wanted in _exports_now_wanted(contexts, kept).items()
        if set(kept[stack]["exports"]) != wanted
    ]:
        for stack in stale:
            del kept[stack]
        contexts.update(emit_programs(platform, platforms, resources, document.data, stale, source))
    contexts = {stack: contexts[stack] for stack in resources.stack_order() if stack in contexts}
    # An override may only change values the programs read from config; one
    # that changes what a program creates cannot differ between environments.
    # Emitting with that environment as the base must give the same programs.
    for environment in platform.environments:
        if environment.name not in platforms or not environment.overrides:
            continue
        stacks = _stacks_an_override_can_touch(environment.overrides, contexts)
        alternative = emit_programs(
            platforms[environment.name], platforms, resources, document.data, stacks
        )
        for stack in stacks:
            contexts[stack].reads_apps |= alternative[stack].reads_apps
        differing = [
            stack
            for stack in stacks
            if program_body(alternative[stack]) != program_body(contexts[stack])
        ]
        if differing:
            where = environment.path + ("overrides",)
            report.extend(
                [
                    Diagnostic(
                        ERROR,
                        "CW310",
                        f"environment '{environment.name}' overrides a setting that changes what "
                        f"{differing[0]} creates; it cannot differ between environments",
                        document.span(where, key=True),
                        format_path(where),
                        "set it in the platform itself, or use a separate platform file",
                        document.file,
                    )
                ]
            )
    if report.errors:
        return CompileResult(report, resources=resources)
    files = emit_projects(
        platform,
        platforms,
        resources,
        document.data,
        contexts=contexts,
        kept=kept,
        inputs=inputs,
        valid=checked.valid,
    )
    if report.errors:
        return CompileResult(report, resources=resources)
    return CompileResult(
        report,
        files,
        resources=resources,
        kept=sorted(kept),
        environments=names,
        secrets_provider=platform.state_secrets_provider,
    )


# Parts of the platform an app's program reads; an override elsewhere (node
# pools, the cluster version, ...) cannot change an app stack.
_APP_INPUTS = {"name", "cloud", "tags", "network", "appServices", "clusterServices"}


def _stacks_an_override_can_touch(overrides: dict, contexts: dict) -> list[str]:
    stacks = [s for s in contexts if not s.startswith("06-apps/")]
    cluster = overrides.get("cluster", {})
    app_wide = (set(overrides) & _APP_INPUTS) or (
        isinstance(cluster, dict) and "namespaces" in cluster
    )
    if app_wide:
        return list(contexts)
    named = {
        item.get("name")
        for item in overrides.get("apps", [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    return stacks + [s for s in contexts if s.startswith("06-apps/") and s[8:] in named]


def _source_name(file: str) -> str:
    """The platform file's name for program headers; only a plain file name
    goes into generated text, anything else reads as platform.yaml."""
    name = Path(file).name
    return name if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", name) else "platform.yaml"


def compile_file(file, out_dir, env: str | None = None, today=None) -> CompileResult:
    """Load, check, emit and write FILE into OUT. Raises LoadError / WriteError.
    `today` (a date): the day version support is judged on."""
    from crosswalk.compiler.diagnostics import Report
    from crosswalk.compiler.document import load_document

    document, diagnostics = load_document(str(file))
    if document is None:
        return CompileResult(Report(list(diagnostics)))
    return compile_into(document, out_dir, env, today=today)


def compile_into(
    document, out_dir, env: str | None = None, today=None, source: str | None = None
) -> CompileResult:
    """Emit one loaded document into OUT, skipping the stacks OUT's cache says are unchanged
    (`source`: the file name program headers cite). Raises WriteError."""
    from crosswalk.compiler.writer import list_tree, write_tree

    out = Path(out_dir)
    listing = list_tree(out)
    result = compile_document(
        document, env, _previous_cache(out, listing.files), source=source, today=today
    )
    if result.files:
        output = _output(result, out, listing)
        cache = output.files.pop(CACHE_FILE)
        written = write_tree(
            output.files,
            out,
            keep=result.kept,
            listing=listing,
            preserve=[*output.preserve, CACHE_FILE],
        )
        result.changed, result.removed_stacks = written.changed, written.removed_stacks
        if _write_cache(out, cache, output.files, result.kept):
            result.changed = sorted([*result.changed, CACHE_FILE])
        result.notes = output.notes
    return result


def check_file(file, out_dir, env: str | None = None, today=None):
    """Whether OUT holds what FILE compiles to: (CompileResult, Difference or
    None when FILE does not compile). Compares content, never trusting the
    cache. Raises LoadError; WriteError when OUT is not a compiled tree.
    `today` (a date): the day version support is judged on."""
    from crosswalk.compiler.diagnostics import Report
    from crosswalk.compiler.document import load_document
    from crosswalk.compiler.output import compare_output
    from crosswalk.compiler.writer import MANIFEST, WriteError, list_tree

    document, diagnostics = load_document(str(file))
    if document is None:
        return CompileResult(Report(list(diagnostics))), None
    out = Path(out_dir)
    listing = list_tree(out)
    if not listing.empty and MANIFEST not in listing.files:
        raise WriteError(f"{out}: was not written by crosswalk (no {MANIFEST})")
    result = compile_document(document, env, today=today)
    if not result.files:
        return result, None
    output = _output(result, out, listing)
    result.notes = output.notes
    return result, compare_output(output, listing)


def _output(result: CompileResult, out: Path, listing):
    from crosswalk.compiler.output import prepare_output
    from crosswalk.compiler.stackconfig import StackConfigError
    from crosswalk.compiler.writer import WriteError

    try:
        return prepare_output(
            result.files,
            out,
            listing,
            kept=result.kept,
            environments=result.environments,
            secrets=result.secrets_provider,
        )
    except (StackConfigError, OSError) as exc:
        raise WriteError(str(exc)) from None
