"""Locating and identifying the terraform binary the platform runs."""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from django.conf import settings


class TerraformNotFound(Exception):
    pass


@dataclass(frozen=True)
class TerraformInfo:
    path: str
    version: str


def terraform_path() -> str:
    configured = settings.TERRAFORM_BIN
    if os.path.sep in configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise TerraformNotFound(f"TERRAFORM_BIN={configured!r} does not exist or is not executable.")
    found = shutil.which(configured)
    if not found:
        raise TerraformNotFound(f"TERRAFORM_BIN={configured!r} is not on PATH.")
    return found


def terraform_info(timeout: int = 30) -> TerraformInfo:
    path = terraform_path()
    env = {"PATH": os.environ.get("PATH", ""), "CHECKPOINT_DISABLE": "1", "HOME": str(settings.DATA_DIR),
           "TF_CLI_CONFIG_FILE": os.devnull}
    try:
        result = subprocess.run(
            [path, "version", "-json"], capture_output=True, text=True, timeout=timeout, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TerraformNotFound(f"{path} could not be run: {exc}") from exc
    match = re.search(r'"terraform_version"\s*:\s*"([^"]+)"', result.stdout) or re.search(
        r"Terraform v(\S+)", result.stdout
    )
    if result.returncode != 0 or not match:
        raise TerraformNotFound(f"{path} did not report a version: {result.stderr.strip()[:300]}")
    return TerraformInfo(path=path, version=match.group(1))
