"""The settings that say how the platform reaches its brokers and its database."""

from __future__ import annotations

import json

import pytest

from schemas.settings import Settings, SignInProvider


def test_postgresql_takes_the_sslmode_setting_and_kafka_clients_their_security_options() -> None:
    from schemas.settings import Settings

    assert Settings(database_url="postgresql+psycopg://u@h/db", database_sslmode="verify-full"
                    ).resolved_database_url == "postgresql+psycopg://u@h/db?sslmode=verify-full"
    assert Settings(database_url="postgresql+psycopg://u@h/db?sslmode=disable", database_sslmode="verify-full"
                    ).resolved_database_url.endswith("sslmode=disable")  # the URL's own word stands
    assert Settings().kafka_options() == {"security_protocol": "PLAINTEXT"}
    secured = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="p")
    assert secured.kafka_options()["ssl_check_hostname"] is True
    assert "ssl_context" in secured.kafka_options(for_asyncio=True)


def test_sign_in_providers_come_from_json_and_reach_a_child_process_with_their_secrets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.processes import settings_env

    monkeypatch.setenv("SIGN_IN_PROVIDERS", json.dumps([{
        "organisation": "town-council", "name": "Town Council", "issuer": "https://login.example.gov.uk/tenant/v2.0",
        "client_id": "journeys", "client_secret": "a secret"}]))
    settings = Settings()
    (provider,) = settings.sign_in_providers
    assert provider.claim == "email" and "a secret" not in repr(settings)
    monkeypatch.setenv("SIGN_IN_PROVIDERS", settings_env(settings)["SIGN_IN_PROVIDERS"])
    assert Settings().sign_in_providers == settings.sign_in_providers
    for wrong, said in (({"client_private_key": "PEM"}, "not both"), ({"client_secret": None}, "not both"),
                        ({"organisation": "Town Council"}, "pattern"), ({"issuer": "login.example"}, "pattern")):
        with pytest.raises(ValueError, match=said):
            SignInProvider(**{**provider.model_dump(), "client_secret": "a secret", **wrong})
