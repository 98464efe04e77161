"""Product service settings, env prefix ``PRODUCT_``."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class ProductSettings(HttpServiceSettings):
    """Where the catalog and its stock live."""

    model_config = SettingsConfigDict(env_prefix="PRODUCT_", env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://product_service:product_service-local-password@127.0.0.1:5432/product_service"
    port: int = 8103
    # False serves the catalog API only, without joining the ``product-service`` consumer group
    # (an API-only instance, or a test process on a scratch database).
    consumers_enabled: bool = True
