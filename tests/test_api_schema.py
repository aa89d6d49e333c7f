"""OpenAPI schema at /api/schema/ and browsable docs at /api/docs/."""

import pytest
import yaml


@pytest.mark.django_db
def test_the_schema_is_public_and_describes_the_lead_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert "/api/v1/leads/" in schema["paths"]
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/leads/"])
    assert {"get", "patch"} <= set(schema["paths"]["/api/v1/leads/{id}/"])
    lead = schema["components"]["schemas"]["Lead"]["properties"]
    assert {"email", "stage", "campaign", "owner", "external_id", "converted", "custom"} <= set(
        lead
    )


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr" not in response.content
