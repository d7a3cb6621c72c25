from workspaces.secrets import state_secret_strings


def test_strings_under_sensitive_paths_and_sensitive_outputs():
    state = {
        "resources": [{"instances": [{
            "sensitive_attributes": [
                [{"type": "get_attr", "value": "input"}, {"type": "get_attr", "value": "password"}],
                [{"type": "get_attr", "value": "input"}, {"type": "get_attr", "value": "m"}],
            ],
            "attributes": {"input": {"value": {"password": "Sekr3t-old", "name": "one", "m": {"k": "MapSecret1"}},
                                     "type": ["object", {}]}},
        }]}],
        "outputs": {"o": {"value": "OutSecret", "sensitive": True}, "p": {"value": "public"}},
    }
    found = state_secret_strings(state)
    assert set(found) == {"Sekr3t-old", "MapSecret1", "OutSecret"}
    assert "one" not in found and "public" not in found
