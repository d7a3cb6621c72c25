from workspaces.tokens import api_token_create, api_token_revoke


def test_token_auth_and_revocation(client, user, workspace):
    token, raw = api_token_create(user=user, name="ci")
    assert raw.startswith("iac_") and token.token_hash != raw and raw not in token.token_hash
    response = client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert [w["name"] for w in response.json()] == ["demo"]
    token.refresh_from_db()
    assert token.last_used_at is not None
    api_token_revoke(token=token)
    response = client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "errors"}


def test_unknown_token_is_refused(client, db):
    response = client.get("/api/v1/workspaces", HTTP_AUTHORIZATION="Bearer iac_nope")
    assert response.status_code == 401


def test_session_auth_and_404_shape(auth_client, workspace):
    assert auth_client.get("/api/v1/workspaces?search=dem").json()[0]["name"] == "demo"
    response = auth_client.get("/api/v1/workspaces/missing/variables")
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "errors"}
