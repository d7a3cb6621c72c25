"""The effective configuration: what the next run of a workspace will write, and from where.

The page and its tests call ``workdir_files`` — the very function the executor writes the work
dir with — for the workspace's current code version, without decrypting a sensitive variable
(``reveal_secrets=False``), then mask whatever a sensitive value could still show up in (code
that happens to contain it).
"""

import re
from dataclasses import dataclass, field

from executions.executor.config import ConfigFile, workdir_files
from iacplatform.errors import DomainError
from resources.models import WorkspaceResource
from workspaces.models import StateVersion, Variable, Workspace, WorkspaceCodeVersion
from workspaces.secrets import redact, variable_secret_strings

# A top-level HCL block header: keyword, then its labels, then "{" (the outline of an HCL file).
HCL_BLOCK = re.compile(r'^(resource|data|module|variable|output|locals|provider|terraform|moved|import|removed|check)'
                       r'((?:\s+"[^"\n]*"|\s+[A-Za-z_][\w-]*)*)\s*\{', re.MULTILINE)

@dataclass
class OutlineEntry:
    line: int
    label: str


@dataclass
class ShownFile:
    file: ConfigFile
    content: str  # masked
    outline: list[OutlineEntry] = field(default_factory=list)
    written: dict = field(default_factory=dict)  # part label → its HCL as written (resources that came from HCL)

    @property
    def rows(self) -> list[tuple]:
        """(origin, HCL as written or "") per part."""
        return [(part, self.written.get(part.label, "")) for part in self.file.parts]

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def parts(self):
        return self.file.parts

    @property
    def language(self) -> str:
        return self.file.language

    @property
    def lines(self) -> list[str]:
        return self.content.rstrip("\n").split("\n") if self.content else []

    @property
    def anchor(self) -> str:
        return "file-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.file.name)


@dataclass
class EffectiveConfiguration:
    code_version: WorkspaceCodeVersion | None
    resource_count: int
    files: list[ShownFile]
    error: str = ""
    environment: list[tuple[str, bool]] = field(default_factory=list)  # (key, sensitive): never a value
    state_serial: int | None = None


def hcl_outline(text: str) -> list[OutlineEntry]:
    outline = []
    for match in HCL_BLOCK.finditer(text):
        labels = [label.strip().strip('"') for label in re.findall(r'"[^"\n]*"|[A-Za-z_][\w-]*', match.group(2))]
        keyword = match.group(1)
        if keyword in ("resource", "data") and len(labels) == 2:
            label = ("data." if keyword == "data" else "") + ".".join(labels)
        else:
            label = ".".join([keyword, *labels])
        outline.append(OutlineEntry(text.count("\n", 0, match.start()) + 1, label))
    return outline


def effective_configuration(workspace: Workspace) -> EffectiveConfiguration:
    """The files the next run writes, with each part's origin; sensitive values masked."""
    current = Workspace.objects.filter(pk=workspace.pk).values("current_code_version_id")
    code_version = WorkspaceCodeVersion.objects.filter(pk__in=current).first()
    variables = list(Variable.objects.filter(workspace=workspace).order_by("category", "key"))
    secrets = variable_secret_strings(variables)
    config = EffectiveConfiguration(
        code_version=code_version,
        resource_count=WorkspaceResource.objects.filter(workspace=workspace, is_active=True).count(),
        files=[],
        environment=[(v.key, v.sensitive) for v in variables if v.category == Variable.Category.ENV],
    )
    config.state_serial = (StateVersion.objects.filter(workspace=workspace).order_by("-serial")
                           .values_list("serial", flat=True).first())
    try:
        files = workdir_files(workspace, code_version, variables, reveal_secrets=False)
    except DomainError as exc:
        config.error = redact(exc.message, secrets)
        return config
    written = {address: redact(text, secrets) for address, text in WorkspaceResource.objects.filter(
        workspace=workspace, is_active=True).exclude(current_version__source_text="")
        .values_list("resource_id", "current_version__source_text")}
    for config_file in files:
        content = redact(config_file.content, secrets)
        outline = hcl_outline(content) if config_file.name.endswith(".tf") else []
        parts_written = {p.label: written[p.label] for p in config_file.parts
                         if p.source == "resource" and p.label in written}
        config.files.append(ShownFile(config_file, content, outline, parts_written))
    return config
