"""PostgreSQL on Kubernetes: the official postgres image as a StatefulSet with a volume
claim, and an init Job that creates the declared roles and databases and installs
Message DB from its npm package, as `setup` does locally.

Passwords live in one Secret, generated at apply time (or written into the rendered
files when the stack asks); services get DATABASE_URL and MESSAGE_DB_URL from it.
"""

from __future__ import annotations

import shlex
from typing import Any

from leapfrog.components import kube as k
from leapfrog.components._messagedb import _SCHEMA_FILES, PACKAGE, VERSION
from leapfrog.components._postgres_kube_archive import archive_parts, physical_on_kube
from leapfrog.components._postgres_options import MESSAGE_STORE, SUPERUSER, PostgresOptions

__all__ = ["DATA", "UID", "render_postgres"]

NAME = "postgres"
SECRET = "postgres-credentials"
DEFAULT_VERSION = 17
UID = 999  # postgres in the official image
_NODE_UID = 1000  # node in the official node image
DATA = "/var/lib/postgresql/data"
_MDB = "/tmp/message-db/package/database"


def _host(kube: k.KubeContext) -> str:
    return f"{NAME}.{kube.namespace}.svc"


def _url(kube: k.KubeContext, options: PostgresOptions, role: str, database: str) -> str:
    # Generated passwords are URL-safe (secrets.token_urlsafe): no quoting needed.
    return f"postgresql://{role}:{{{role}}}@{_host(kube)}:{options.port}/{database}"


def _login_roles(options: PostgresOptions) -> list[str]:
    roles = [SUPERUSER, *(n for n, r in options.all_roles().items() if r.login)]
    return [*roles, MESSAGE_STORE] if options.message_db else roles


def _service_role(options: PostgresOptions) -> tuple[str, str]:
    """The role and database services get, chosen as `connection_env` does locally."""
    if not options.databases:
        return SUPERUSER, "postgres"
    database = next(iter(options.databases))
    owner = options.owner_of(database)
    if owner == SUPERUSER or options.all_roles()[owner].login:
        return owner, database
    return SUPERUSER, database


def _secret(options: PostgresOptions, kube: k.KubeContext) -> k.KubeSecret:
    role, database = _service_role(options)
    derived = {"DATABASE_URL": _url(kube, options, role, database)}
    if options.message_db:
        derived["MESSAGE_DB_URL"] = _url(kube, options, MESSAGE_STORE, MESSAGE_STORE)
    generated = dict.fromkeys(_login_roles(options), "password")
    return k.KubeSecret(SECRET, NAME, generated, derived)  # type: ignore[arg-type]


def _server(options: PostgresOptions, kube: k.KubeContext, image: str) -> dict[str, Any]:
    ready = {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", SUPERUSER, "-q"]}}
    args = [f"-c{name}={_setting(value)}" for name, value in options.parameters.items()]
    return {
        "name": NAME,
        "image": image,
        "args": ["postgres", "-p", str(options.port), *args],
        "env": [
            k.secret_env("POSTGRES_PASSWORD", SECRET, SUPERUSER),
            {"name": "PGDATA", "value": f"{DATA}/pgdata"},
            {"name": "PGPORT", "value": str(options.port)},
        ],
        "ports": [{"name": "postgres", "containerPort": options.port}],
        "readinessProbe": {**ready, "periodSeconds": 5},
        "livenessProbe": {**ready, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**ready, "periodSeconds": 2, "failureThreshold": 90},
        "securityContext": k.container_security(),
        "resources": k.resources("250m", "512Mi"),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _setting(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def render_postgres(options: PostgresOptions, kube: k.KubeContext) -> k.KubeRender:
    version = str(options.version or DEFAULT_VERSION)
    image = kube.image("postgres", version)
    pod: dict[str, Any] = {
        "securityContext": k.pod_security(UID),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 60,
        "containers": [_server(options, kube, image)],
        "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    objects: list[k.Manifest] = []
    if options.backups is not None and physical_on_kube(options.backups):
        # Physical backups: the server archives its WAL into the schedule's claim.
        parts = archive_parts(options.backups, kube, NAME, DATA, int(version))
        config, args, volumes, mounts = parts
        server = pod["containers"][0]
        server["args"] += args
        server["volumeMounts"] += mounts
        pod["volumes"] += volumes
        objects.append(config)
    objects += [
        k.service(kube, NAME, NAME, "database", {"postgres": options.port}),
        k.stateful_set(kube, NAME, "database", version, pod=pod, storage=("postgres", "10Gi")),
        _init_job(options, kube, image),
    ]
    env = [k.secret_env("DATABASE_URL", SECRET, "DATABASE_URL")]
    env += [
        {"name": "PGHOST", "value": _host(kube)},
        {"name": "PGPORT", "value": str(options.port)},
    ]
    if options.message_db:
        env.append(k.secret_env("MESSAGE_DB_URL", SECRET, "MESSAGE_DB_URL"))
    return k.KubeRender(objects, env, [_secret(options, kube)], ports={"postgres": options.port})


def _setup_sql(options: PostgresOptions) -> str:
    """Idempotent: each statement creates only what is missing (\\gexec runs the result)."""
    lines = []
    for role in [*options.all_roles(), *([MESSAGE_STORE] if options.message_db else [])]:
        login = "LOGIN" if role == MESSAGE_STORE or options.all_roles()[role].login else "NOLOGIN"
        lines.append(
            f"SELECT format('CREATE ROLE %I {login}', '{role}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec"
        )
        if login == "LOGIN":
            lines.append(f"ALTER ROLE {role} {login} PASSWORD :'pw_{role}';")
    databases = {name: options.owner_of(name) for name in options.databases}
    if options.message_db:
        databases[MESSAGE_STORE] = SUPERUSER
    for name, owner in databases.items():
        lines.append(
            f"SELECT format('CREATE DATABASE %I OWNER %I', '{name}', '{owner}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}') \\gexec"
        )
        lines.append(f"ALTER DATABASE {name} OWNER TO {owner};")
    if options.message_db:
        lines.append(f"ALTER DATABASE {MESSAGE_STORE} SET search_path = {MESSAGE_STORE}, public;")
    return "\n".join(lines) + "\n"


def _init_script(options: PostgresOptions, kube: k.KubeContext) -> str:
    roles = [*options.all_roles(), *([MESSAGE_STORE] if options.message_db else [])]
    variables = " ".join(
        f'-v pw_{r}="$PW_{r.upper()}"'
        for r in roles
        if r == MESSAGE_STORE or options.all_roles()[r].login
    )
    psql = f"psql -v ON_ERROR_STOP=1 -h {_host(kube)} -p {options.port} -U {SUPERUSER}"
    lines = [
        "set -e",
        f"until pg_isready -q -h {_host(kube)} -p {options.port}; do sleep 2; done",
    ]
    lines.append(f"{psql} -d postgres {variables} <<'SQL'\n{_setup_sql(options)}SQL")
    if options.message_db:
        files = " ".join(f"-f {_MDB}/{name}" for name in _SCHEMA_FILES)
        check = "SELECT to_regprocedure('message_store.message_store_version()') IS NOT NULL"
        lines += [
            "mkdir -p /tmp/message-db && tar -xzf /work/*.tgz -C /tmp/message-db",
            # The role and database were made above, as locally (not roles/*.sql: it
            # fails when the role exists).
            f'installed=$({psql} -d {MESSAGE_STORE} -tAc "{check}")',
            # One transaction (-1): Message DB is installed whole or not at all.
            f'[ "$installed" = t ] || PGOPTIONS="-c search_path={MESSAGE_STORE},public '
            f'-c client_min_messages=warning" {psql} -1 -d {MESSAGE_STORE} {files}',
        ]
    return "\n".join(lines) + "\n"


def _init_job(options: PostgresOptions, kube: k.KubeContext, image: str) -> k.Manifest:
    env = [k.secret_env("PGPASSWORD", SECRET, SUPERUSER)]
    env += [
        k.secret_env(f"PW_{role.upper()}", SECRET, role)
        for role in _login_roles(options)
        if role != SUPERUSER
    ]
    container = {
        "name": "setup",
        "image": image,
        "command": ["sh", "-c", _init_script(options, kube)],
        "env": env,
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "64Mi"),
        "volumeMounts": [
            {"name": "work", "mountPath": "/work"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod: dict[str, Any] = {
        "securityContext": k.pod_security(UID),
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": "work", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if options.message_db:
        fetch = f"cd /work && npm pack --silent {shlex.quote(f'{PACKAGE}@{VERSION}')}"
        pod["initContainers"] = [
            {
                "name": "fetch-message-db",
                "image": kube.image("node"),
                "command": ["sh", "-c", fetch],
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "npm_config_cache", "value": "/tmp/npm"},
                ],
                "securityContext": {**k.container_security(), "runAsUser": _NODE_UID},
                "resources": k.resources("100m", "256Mi"),
                "volumeMounts": [
                    {"name": "work", "mountPath": "/work"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ]
    return k.job(kube, f"{NAME}-init", pod)
