import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_files(name: str) -> dict[str, str]:
    """{relative path: text} of a fixture configuration under tests/resources/fixtures/<name>."""
    root = FIXTURES / name
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def fragment(name: str, rtype: str = "terraform_data", **body) -> dict:
    return {"resource": {rtype: {name: body or {"input": name}}}}


@pytest.fixture
def make_resource(workspace, user):
    from resources.services import resource_create

    def make(name: str, rtype: str = "terraform_data", ws=None, **body):
        return resource_create(workspace=ws or workspace, code=fragment(name, rtype, **body), user=user)

    return make


def write_workdir(path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def base_state(answer=42) -> str:
    return json.dumps({"version": 4, "terraform_version": "1.15.0", "serial": 1, "lineage": "base-lineage",
                       "outputs": {"answer": {"value": answer, "type": "number"}}, "resources": []})
