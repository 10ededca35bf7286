from orchestrator.logic.secrets import all_secret_property_names, secret_property_names, secrets_mask_yaml


def test_secret_names_at_any_depth():
    spec = {
        "connectionSpecification": {
            "properties": {
                "password": {"type": "string", "airbyte_secret": True},
                "public": {"type": "string", "airbyte_secret": False},
                "tunnel": {
                    "oneOf": [
                        {"properties": {"ssh_key": {"airbyte_secret": True}}},
                        {"properties": {"tunnel_user_password": {"airbyte_secret": True}}},
                    ]
                },
                "auth": {"anyOf": [{"properties": {"token": {"airbyte_secret": True}}}]},
                "streams": {"type": "array", "items": {"properties": {"stream_secret": {"airbyte_secret": True}}}},
                "nested": {
                    "type": "object",
                    "properties": {
                        "deep": {"type": "object", "properties": {"refresh_token": {"airbyte_secret": True}}}
                    },
                },
            }
        }
    }
    assert secret_property_names(spec) == {
        "password",
        "ssh_key",
        "tunnel_user_password",
        "token",
        "stream_secret",
        "refresh_token",
    }
    assert secret_property_names({}) == set()


def test_mask_is_sorted_unique_yaml():
    names = all_secret_property_names(
        [
            {"connectionSpecification": {"properties": {"b": {"airbyte_secret": True}}}},
            {"connectionSpecification": {"properties": {"a": {"airbyte_secret": True}, "b": {"airbyte_secret": True}}}},
        ]
    )
    assert secrets_mask_yaml(names) == b"properties:\n- a\n- b\n"
