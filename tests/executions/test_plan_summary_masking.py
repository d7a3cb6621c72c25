"""Plan summaries mask sensitive values, including the copies Terraform leaves unmarked."""

from executions.executor.plan_summary import SENSITIVE, summarize_plan

SECRET_OLD = "old-secret-value-1"
SECRET_NEW = "new-secret-value-2"


def terraform_data_update() -> dict:
    """`show -json` of a terraform_data whose input holds a sensitive password that changes.

    Shaped like Terraform 1.15's: `input.password` is marked, the identical `output.password`
    is not (and the old value is no workspace variable's current value any more).
    """
    return {"resource_changes": [{
        "address": "terraform_data.a", "type": "terraform_data", "name": "a",
        "change": {
            "actions": ["update"],
            "before": {"id": "x", "input": {"name": "one", "password": SECRET_OLD},
                       "output": {"name": "one", "password": SECRET_OLD}, "triggers_replace": None},
            "after": {"id": "x", "input": {"name": "two", "password": SECRET_NEW}, "triggers_replace": None},
            "after_unknown": {"output": True},
            "before_sensitive": {"input": {"password": True}},
            "after_sensitive": {"input": {"password": True}},
        },
    }]}


def test_unmarked_copies_of_a_sensitive_value_are_masked():
    summary = summarize_plan(terraform_data_update(), secrets=[SECRET_NEW])
    text = repr(summary)
    assert SECRET_OLD not in text and SECRET_NEW not in text
    attrs = {a["name"]: a for a in summary["resources"][0]["changed_attributes"]}
    assert attrs["input"]["before"] == {"name": "one", "password": SENSITIVE}
    assert attrs["input"]["after"] == {"name": "two", "password": SENSITIVE}
    assert attrs["output"]["before"] == {"name": "one", "password": SENSITIVE}
    assert attrs["output"]["after"] == "(known after apply)"


def test_values_not_marked_anywhere_stay_visible():
    plan = terraform_data_update()
    change = plan["resource_changes"][0]["change"]
    change["before_sensitive"] = change["after_sensitive"] = {}
    attrs = {a["name"]: a for a in summarize_plan(plan)["resources"][0]["changed_attributes"]}
    assert attrs["input"]["before"] == {"name": "one", "password": SECRET_OLD}
