"""Generating a task's working directory: code, provider, variables, tfvars, state, CLI config.

Everything terraform needs is written here from the database, so any worker host can
rebuild the directory of any task.
"""

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from executions.executor.isolation import hand_over, harden_data_dir, process_credentials
from iacplatform.errors import DomainError
from resources.aggregation import Origin, aggregate_with_origins
from workspaces.code.files import split_code_files
from workspaces.models import Variable, Workspace, WorkspaceCodeVersion
from workspaces.secrets import SENSITIVE, ordered, state_secret_strings, variable_secret_strings
from workspaces.state.selectors import latest_state

LOCK_FILE_NAME = ".terraform.lock.hcl"
HCL_VARIABLE_BLOCK = re.compile(r'^\s*variable\s+"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*\{', re.MULTILINE)


class ConfigError(DomainError):
    """The workspace's configuration cannot be turned into terraform files."""


@dataclass
class WorkDir:
    path: Path
    env: dict
    secrets: list[str] = field(default_factory=list)
    state_serial: int | None = None
    state_lineage: str | None = None
    state_checksum: str | None = None
    credentials: dict = field(default_factory=dict)  # Popen arguments: the run's OS user and group

    @property
    def state_file(self) -> Path:
        return self.path / "terraform.tfstate"

    @property
    def plan_file(self) -> Path:
        return self.path / "plan.tfplan"

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE_NAME


def write_file(path: Path, content: str | bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    path.chmod(mode)


def create_workdir(task) -> Path:
    root = Path(settings.IAC_WORK_DIR)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    harden_data_dir()
    path = root / f"task-{task.pk}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    return path


def remove_workdir(path: Path | None, *, failed: bool) -> None:
    if path is None or not path.exists():
        return
    if failed and settings.IAC_KEEP_FAILED_WORKDIRS:
        return
    shutil.rmtree(path, ignore_errors=True)


# --- the files terraform reads ---------------------------------------------------------
@dataclass
class ConfigFile:
    """One file of the work dir as the next run writes it, and where its parts come from."""

    name: str
    content: str
    parts: list[Origin] = field(default_factory=list)

    @property
    def language(self) -> str:
        if self.name.endswith(".json"):
            return "json"
        return "hcl" if self.name.endswith((".tf", ".tfvars")) else "text"


def code_files(workspace: Workspace, code_version: WorkspaceCodeVersion | None) -> list[ConfigFile]:
    """The code files: the code version, and the aggregated resources (the "smart source").

    Neither wins over the other: JSON code is merged with the resources into one main.tf.json
    (an address defined by both is a conflict), HCL code stays main.tf next to a main.tf.json
    that holds only the resources (an address defined by both fails in terraform).
    """
    files: dict[str, ConfigFile] = {}
    if code_version is not None:
        origin = f"code version {code_version.number}"
        for name, text in split_code_files(code_version.code, code_version.code_format).items():
            files[name] = ConfigFile(name, text, [Origin("whole file", "code", origin, code_version.number)])
    aggregated, origins = aggregate_with_origins(workspace)
    if aggregated is not None:
        # For JSON code the aggregate already contains it; HCL code stays next to it as main.tf.
        files["main.tf.json"] = ConfigFile("main.tf.json", json.dumps(aggregated, indent=2, sort_keys=True), origins)
    if not any(f.content.strip() for name, f in files.items() if name.endswith((".tf", ".tf.json"))):
        raise ConfigError("The workspace has no code yet: save code or add resources before running.")
    return list(files.values())


def main_files(workspace: Workspace, code_version: WorkspaceCodeVersion | None) -> dict[str, str]:
    return {f.name: f.content for f in code_files(workspace, code_version)}


def workdir_files(workspace: Workspace, code_version: WorkspaceCodeVersion | None, variables: list[Variable], *,
                  reveal_secrets: bool = True) -> list[ConfigFile]:
    """Every configuration file a run of ``code_version`` writes, in order; the effective
    configuration page shows the same list with ``reveal_secrets=False`` (sensitive values
    are never decrypted then)."""
    files = code_files(workspace, code_version)
    provider_parts = [Origin("provider", "provider", "provider settings (Settings tab)")]
    if workspace.aws_role_arn:
        provider_parts.append(Origin("assume_role", "provider", "AWS role of the workspace settings"))
    var_doc, tfvars = variable_files(variables, declared_variables({f.name: f.content for f in files}),
                                     reveal_secrets=reveal_secrets)
    terraform_vars = [v for v in variables if v.category == Variable.Category.TERRAFORM]
    return [
        *files,
        ConfigFile("provider.tf.json", json_text(provider_document(workspace)), provider_parts),
        ConfigFile("variables.tf.json", json_text(var_doc),
                   [Origin(f"variable.{key}", "variables", f"workspace variable {key} (declared here: the code "
                                                          "does not declare it)") for key in var_doc.get("variable", {})]),
        ConfigFile("variables.tfvars", tfvars,
                   [Origin(v.key, "variables", f"workspace variable {v.key}" + (" (sensitive)" if v.sensitive else ""))
                    for v in terraform_vars]),
    ]


def json_text(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def declared_variables(files: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for name, text in files.items():
        if name.endswith(".tf.json"):
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"{name} is not valid JSON: {exc}") from None
            variables = doc.get("variable", {}) if isinstance(doc, dict) else {}
            if isinstance(variables, dict):
                names.update(variables)
            elif isinstance(variables, list):
                for item in variables:
                    names.update(item)
        elif name.endswith(".tf") and "/" not in name:
            names.update(HCL_VARIABLE_BLOCK.findall(text))
    return names


def hcl_string(value: str) -> str:
    """A value as an HCL quoted string: JSON escaping plus escaped template sequences."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def variable_files(variables: list[Variable], already_declared: set[str], *,
                   reveal_secrets: bool = True) -> tuple[dict, str]:
    """(variables.tf.json document, variables.tfvars text) for the terraform variables."""
    declarations: dict[str, dict] = {}
    lines: list[str] = []
    for var in variables:
        if var.category != Variable.Category.TERRAFORM:
            continue
        if var.sensitive and not reveal_secrets:
            value, hcl = SENSITIVE, False
        else:
            value, hcl = var.get_value(), var.hcl
        if var.key not in already_declared:
            declaration: dict = {"type": "any" if var.hcl else "string"}
            if var.sensitive:
                declaration["sensitive"] = True
            if var.description:
                declaration["description"] = var.description
            declarations[var.key] = declaration
        lines.append(f"{var.key} = {value if hcl else hcl_string(value)}")
    doc = {"variable": declarations} if declarations else {}
    return doc, "\n".join(lines) + ("\n" if lines else "")


def provider_document(workspace: Workspace) -> dict:
    """provider.tf.json: the workspace's provider settings as they are now, with the AWS role to
    assume when one is set.

    The settings are the one source: a code version's ``provider_config`` is the history of
    them (each change in Settings records a version, see ``workspaces.services.workspace_update``),
    never a copy that would win over a later change.
    """
    config = workspace.provider_config or {}
    if not isinstance(config, dict):
        raise ConfigError("The provider config must be a JSON object.")
    doc = json.loads(json.dumps(config))
    if doc and "provider" not in doc and "terraform" not in doc:
        doc = {"provider": doc}
    if workspace.aws_role_arn:
        providers = doc.get("provider", {})
        aws_blocks = providers.get("aws") if isinstance(providers, dict) else None
        if aws_blocks is not None:
            role = {"role_arn": workspace.aws_role_arn,
                    "session_name": workspace.aws_session_name or f"iac-{workspace.name}"[:64]}
            if workspace.aws_external_id:
                role["external_id"] = workspace.aws_external_id
            for block in aws_blocks if isinstance(aws_blocks, list) else [aws_blocks]:
                block.setdefault("assume_role", role)
    return doc


def mirrored_providers(mirror: Path) -> list[str]:
    """Provider addresses (hostname/namespace/type) a filesystem mirror holds."""
    found = []
    try:
        for host in sorted(p for p in mirror.iterdir() if p.is_dir()):
            for namespace in sorted(p for p in host.iterdir() if p.is_dir()):
                found += [f"{host.name}/{namespace.name}/{kind.name}"
                          for kind in sorted(p for p in namespace.iterdir() if p.is_dir())]
    except OSError:
        return []
    return found


def cli_config(workdir: Path) -> Path:
    """A CLI config of our own (TF_CLI_CONFIG_FILE): plugin cache and an optional mirror.

    Providers the mirror holds come only from it: with ``direct {}`` also allowed for them,
    terraform asks the registry for their versions too and fails where it is unreachable —
    the very machines a mirror is for.
    """
    cache = Path(settings.IAC_PLUGIN_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    lines = [f"plugin_cache_dir = {hcl_string(str(cache))}", "disable_checkpoint = true"]
    if settings.IAC_PROVIDER_MIRROR:
        mirror = settings.IAC_PROVIDER_MIRROR
        providers = "[" + ", ".join(hcl_string(p) for p in mirrored_providers(Path(mirror))) + "]"
        mirrored = providers != "[]"
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path = {hcl_string(str(mirror))}",
            *([f"    include = {providers}"] if mirrored else []),
            "  }",
            "  direct {",
            *([f"    exclude = {providers}"] if mirrored else []),
            "  }",
            "}",
        ]
    path = workdir / ".terraformrc"
    write_file(path, "\n".join(lines) + "\n")
    return path


def build_environment(workspace: Workspace, workdir: Path, variables: list[Variable]) -> dict:
    """Only what terraform needs — never the server's own environment (SECRET_KEY, DATABASE_URL…)."""
    home = workdir / ".home"
    home.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(cli_config(workdir)),
    }
    if workspace.aws_region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = workspace.aws_region
    for var in variables:
        if var.category == Variable.Category.ENV:
            env[var.key] = var.get_value()
    return env


def prepare_workdir(task, *, code_version: WorkspaceCodeVersion | None, with_state: bool = True) -> WorkDir:
    """Write the whole working directory of a task and return what the runner needs."""
    workspace = task.workspace
    path = create_workdir(task)
    variables = list(Variable.objects.filter(workspace=workspace).order_by("category", "key"))
    for config_file in workdir_files(workspace, code_version, variables):
        write_file(path / config_file.name, config_file.content)
    workdir = WorkDir(path=path, env=build_environment(workspace, path, variables), secrets=variable_secret_strings(variables))
    state = latest_state(workspace) if with_state else None
    if state is not None:
        write_file(workdir.state_file, state.content)
        workdir.state_serial, workdir.state_lineage, workdir.state_checksum = state.serial, state.lineage, state.checksum
        # terraform prints previous values too: secrets the variables no longer hold stay hidden.

        workdir.secrets = ordered([*workdir.secrets, *state_secret_strings(json.loads(state.content))])
    workdir.credentials = process_credentials(task)
    hand_over(path, task)
    return workdir
