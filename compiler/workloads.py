"""What each app's workload may say: the keys that fit its kind, its cron
schedule, its volumes and node pool, and the warnings where an app leans on
something unsafe (`:latest` images, secrets in `env`). Runs inside
check_platform, on a schema-valid platform."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crosswalk.compiler.model import JOB_KINDS, App
from crosswalk.compiler.validate import quoted_list

if TYPE_CHECKING:
    from crosswalk.compiler.checks import _Checker

# Keys that fit only some kinds (the rest fit every kind).
ONLY_FOR = {
    "schedule": frozenset({"cronjob"}),
    "concurrencyPolicy": frozenset({"cronjob"}),
    "history": frozenset({"cronjob"}),
    "retries": JOB_KINDS,
    "timeoutSeconds": JOB_KINDS,
    "replicas": frozenset({"deployment", "statefulset"}),
    "port": frozenset({"deployment", "statefulset"}),
    "health": frozenset({"deployment", "statefulset"}),
    "ingress": frozenset({"deployment", "statefulset"}),
    "autoscale": frozenset({"deployment", "statefulset"}),
    "migrations": frozenset({"deployment", "statefulset"}),
}

# The fields of a cron schedule, with their ranges and names.
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_PART = re.compile(r"^(?:(\*|\?)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?$")

# Environment variable names that look like they hold a secret.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$", re.IGNORECASE)


def cron_problem(schedule: str) -> str | None:
    """Why `schedule` is not a schedule Kubernetes' CronJob accepts (None: it is)."""
    text = schedule.strip()
    if text.startswith("@"):
        if text in CRON_MACROS:
            return None
        return f"'{text}' is not a cron macro (one of {quoted_list(sorted(CRON_MACROS))})"
    fields = text.split()
    if len(fields) != 5:
        return f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5"
    for value, (what, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in value.split(","):
            problem = _cron_part_problem(part, what, low, high, names)
            if problem is not None:
                return problem
    return None


def _cron_part_problem(part: str, what: str, low: int, high: int, names) -> str | None:
    match = _PART.match(part)
    if match is None:
        return f"'{part}' is not a valid {what}"
    star, first, last, step = match.groups()
    if step is not None and int(step) == 0:
        return f"'{part}': a step of 0 never runs"
    if star is not None:
        return None
    bounds = []
    for value in (first, last):
        if value is None:
            continue
        if value.isdigit():
            number = int(value)
        elif value.upper() in names:
            number = names.index(value.upper()) + (1 if names is _MONTHS else 0)
        else:
            return f"'{value}' is not a valid {what}"
        if not low <= number <= high:
            return f"{what} '{value}' is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"the {what} range '{part}' runs backwards"
    return None


def check_workloads(c: _Checker) -> None:
    p = c.platform
    pools = {pool.name for pool in p.cluster.node_pools}
    for app in p.apps:
        _check_kind(c, app)
        if app.node_pool is not None and app.node_pool not in pools:
            c.unknown("CW320", "node pool", app.node_pool, pools, app.path + ("nodePool",))
        _check_volumes(c, app)
        _check_migrations(c, app)
        _check_image(c, app)
        for key, _value in app.env:
            if _SECRET_NAME.search(key):
                c.warn(
                    "CW621",
                    f"app '{app.name}': env '{key}' looks like a secret, and env is stored in "
                    "plain text (in platform.yaml and in a ConfigMap)",
                    app.path + ("env", key),
                    key=True,
                    help=f"name it in the app's `secrets` instead (`secrets: [{{name: "
                    f"{key.lower().replace('_', '-')}, env: {key}}}]`) and set its value in the "
                    "cloud's secret manager; or rename the variable if it holds no secret",
                )
        _check_secrets(c, app)


def _check_secrets(c: _Checker, app: App) -> None:
    """A secret's name once per app; its variable not also a plain one; a
    warning for each secret given as a variable."""
    seen: set[str] = set()
    variables = {key for key, _ in app.env}
    for secret in app.secrets:
        if secret.name in seen:
            c.error(
                "CW201",
                f"app '{app.name}' reads secret '{secret.name}' twice",
                secret.path + ("name",),
                help="list each secret once",
            )
        seen.add(secret.name)
        if secret.env is None:
            continue
        if secret.env in variables:
            c.error(
                "CW201",
                f"app '{app.name}': '{secret.env}' is both an env variable and secret "
                f"'{secret.name}'",
                secret.path + ("env",),
                help="drop one of them",
            )
            continue
        variables.add(secret.env)
        c.warn(
            "CW622",
            f"app '{app.name}': secret '{secret.name}' is also the environment variable "
            f"'{secret.env}': environment variables reach child processes, crash reports and "
            "`kubectl describe pod`",
            secret.path + ("env",),
            help=f"read it from /var/run/secrets/crosswalk/secrets/{secret.name} instead, if the app "
            "can",
        )


def _written(c: _Checker, path: tuple) -> bool:
    """Whether platform.yaml (as this environment sees it) sets `path`
    itself, not through a default."""
    node = c.document.data
    for part in path:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            node = node[part]
        else:
            return False
    return True


def _check_kind(c: _Checker, app: App) -> None:
    for key, kinds in ONLY_FOR.items():
        if app.kind not in kinds and _written(c, app.path + (key,)):
            c.error(
                "CW321",
                f"'{key}' does not apply to app '{app.name}' of kind '{app.kind}'",
                app.path + (key,),
                key=True,
                help=f"'{key}' applies to kind {' and '.join(sorted(kinds))} only; remove it",
            )
    if app.kind == "cronjob":
        if app.schedule is None:
            c.error(
                "CW321",
                f"app '{app.name}' of kind 'cronjob' needs a 'schedule'",
                app.path + ("kind",),
                help='add e.g. schedule: "0 3 * * *" (every day at 03:00 UTC)',
            )
        else:
            problem = cron_problem(app.schedule)
            if problem is not None:
                c.error(
                    "CW322",
                    f"schedule '{app.schedule}' of app '{app.name}' is not valid: {problem}",
                    app.path + ("schedule",),
                    help="five fields: minute hour day-of-month month day-of-week, "
                    'e.g. "*/15 * * * *" or "0 3 * * MON-FRI", or a macro such as @daily',
                )


def _check_volumes(c: _Checker, app: App) -> None:
    seen_names: dict[str, tuple] = {}
    seen_paths: dict[str, tuple] = {"/tmp": ()}
    for volume in app.volumes:
        reserved = volume.name == "tmp" or volume.name.startswith("datastore-")
        if volume.name in seen_names or reserved:
            c.error(
                "CW201",
                f"volume name '{volume.name}' of app '{app.name}' is taken by the app's "
                + ("/tmp" if volume.name == "tmp" else "datastore connections")
                if reserved
                else f"volume '{volume.name}' of app '{app.name}' is declared twice",
                volume.path + ("name",),
                help="volume names must be unique within an app; 'tmp' and 'datastore-*' "
                "are the app's own",
            )
        seen_names.setdefault(volume.name, volume.path)
        mount = volume.mount_path.rstrip("/") or "/"
        if mount in seen_paths or mount == "/":
            taken = "the app's writable /tmp" if mount == "/tmp" else "another volume"
            c.error(
                "CW323",
                f"volume '{volume.name}' of app '{app.name}' mounts at '{volume.mount_path}', "
                + ("the root filesystem" if mount == "/" else f"where {taken} is mounted"),
                volume.path + ("mountPath",),
                help="mount each volume at a path of its own",
            )
        seen_paths.setdefault(mount, volume.path)
        if volume.type == "persistent" and volume.size is None:
            c.error(
                "CW323",
                f"persistent volume '{volume.name}' of app '{app.name}' needs a 'size'",
                volume.path + ("type",),
                help="add e.g. size: 10Gi",
            )
        if volume.type == "config" and not volume.files:
            c.error(
                "CW323",
                f"config volume '{volume.name}' of app '{app.name}' needs 'files'",
                volume.path + ("type",),
                help="add files: {name: contents}",
            )
        if volume.type != "config" and volume.files:
            c.error(
                "CW323",
                f"'files' does not apply to {volume.type} volume '{volume.name}'",
                volume.path + ("files",),
                key=True,
                help="files belong to a volume of type config",
            )
        if volume.type == "config" and volume.size is not None:
            c.error(
                "CW323",
                f"'size' does not apply to config volume '{volume.name}'",
                volume.path + ("size",),
                key=True,
                help="a config volume is as large as its files",
            )
        if volume.type == "persistent" and app.kind == "deployment" and _several(c, app):
            c.error(
                "CW324",
                f"persistent volume '{volume.name}' of app '{app.name}' is one claim shared by "
                "several pods of a deployment, which a disk mounted on one node cannot serve",
                volume.path + ("type",),
                help="use kind: statefulset (a claim per pod), or replicas: 1 without autoscale",
            )


def _several(c: _Checker, app: App) -> bool:
    return app.replicas > 1 or app.autoscale is not None


def _check_migrations(c: _Checker, app: App) -> None:
    seen: set[str] = set()
    for migration in app.migrations:
        if migration.name in seen:
            c.error(
                "CW201",
                f"migration '{migration.name}' of app '{app.name}' is declared twice",
                migration.path + ("name",),
                help="migration names must be unique within an app",
            )
        seen.add(migration.name)


def _check_image(c: _Checker, app: App) -> None:
    image = app.image
    if c.platform.services.require_digests and "@sha256:" not in image:
        c.error(
            "CW325",
            f"app '{app.name}' runs image '{image}', which names no digest, and "
            "clusterServices.policy.requireDigests asks for one",
            app.path + ("image",),
            help="pin it: " + image.split("@")[0] + "@sha256:<digest> (the registry shows it; "
            "`docker buildx imagetools inspect IMAGE` prints it)",
        )
    if "@" in image:
        return
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else None
    if tag == "latest":
        c.warn(
            "CW620",
            f"app '{app.name}' runs image '{image}': 'latest' moves, so what runs is not "
            "what was reviewed, and a restart can pull something else",
            app.path + ("image",),
            help="use a release tag (ghcr.io/acme/app:1.4.2) or a digest (...@sha256:...)",
        )
