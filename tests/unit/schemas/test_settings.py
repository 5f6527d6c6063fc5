"""The settings that say how the platform reaches its brokers and its database."""

from __future__ import annotations


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
