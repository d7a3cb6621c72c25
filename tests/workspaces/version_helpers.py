"""Small builders for code/state version tests (hand-written states, shaped like Terraform's)."""

import json

LINEAGE = "6b0d2e4e-0000-4000-8000-000000000001"
OTHER_LINEAGE = "6b0d2e4e-0000-4000-8000-0000000000ff"
SECRET = "Hunter2-very-secret"


def instance(input_value, *, index_key=None, sensitive_paths=(), resource_id="id-1"):
    inst = {
        "schema_version": 0,
        "attributes": {
            "id": resource_id,
            "input": {"value": input_value, "type": "dynamic"},
            "output": {"value": input_value, "type": "dynamic"},
            "triggers_replace": None,
        },
        "sensitive_attributes": [
            [{"type": "get_attr", "value": step} for step in path] for path in sensitive_paths
        ],
    }
    if index_key is not None:
        inst["index_key"] = index_key
    return inst


def resource(name, instances, *, rtype="terraform_data", module=None):
    res = {
        "mode": "managed", "type": rtype, "name": name,
        "provider": 'provider["terraform.io/builtin/terraform"]', "instances": instances,
    }
    if module:
        res["module"] = module
    return res


def state(serial, resources=(), *, lineage=LINEAGE, outputs=None) -> str:
    return json.dumps({
        "version": 4, "terraform_version": "1.15.5", "serial": serial, "lineage": lineage,
        "outputs": outputs or {}, "resources": list(resources), "check_results": None,
    }, indent=2)


def two_states():
    """Serial 1 and 2: one kept, one changed (with a sensitive attribute), one removed, one added."""
    first = state(1, [
        resource("keep", [instance("same")]),
        resource("changed", [instance({"name": "one", "password": SECRET}, sensitive_paths=[("input", "password")])]),
        resource("removed", [instance("bye")]),
    ], outputs={"token": {"value": SECRET, "type": "string", "sensitive": True},
                "plain": {"value": "p1", "type": "string"}})
    second = state(2, [
        resource("keep", [instance("same")]),
        resource("changed", [instance({"name": "two", "password": SECRET + "-2"},
                                      sensitive_paths=[("input", "password")])]),
        resource("added", [instance(0, index_key=0), instance(1, index_key=1)]),
    ], outputs={"token": {"value": SECRET + "-2", "type": "string", "sensitive": True},
                "plain": {"value": "p2", "type": "string"}})
    return first, second
