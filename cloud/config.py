"""How to reach Alibaba Cloud: region, endpoint override, timeouts, retry budget, credentials source."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class StaticCredentials(BaseModel):
    """Explicit keys, used only for the embedded sandbox; real use goes through the default chain."""

    model_config = ConfigDict(frozen=True)

    access_key_id: str
    access_key_secret: SecretStr


class RetryPolicy(BaseModel):
    """Bounded, jittered retries for throttling, 5xx and (for idempotent calls) network errors."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(4, ge=1, le=10)
    base_delay_s: float = Field(0.2, ge=0)
    max_delay_s: float = Field(8.0, ge=0)
    # Never wait longer than this in total for one call, whatever the server's retry-after says.
    max_total_wait_s: float = Field(20.0, ge=0)


class CloudConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str
    # host[:port] used for every product instead of the public endpoints (the sandbox).
    endpoint_override: str | None = None
    protocol: Literal["https", "http"] = "https"
    connect_timeout_ms: int = Field(5000, ge=100, le=60000)
    read_timeout_ms: int = Field(10000, ge=100, le=120000)
    retry: RetryPolicy = RetryPolicy()
    credentials: StaticCredentials | None = None
    user_agent: str = "ack-compute-mcp"
    # The account's site: bills (BssOpenApi) live at the site's endpoint, whatever region the resources are in.
    site: Literal["china", "international"] = "china"


def product_endpoint(product: Literal["cs", "ecs", "vpc", "eci", "bss"], config: CloudConfig) -> str:
    """The public endpoint for a product in the configured region, unless overridden."""
    if config.endpoint_override:
        return config.endpoint_override
    region = config.region
    if product == "bss":
        # alibabacloud_bssopenapi20171214 client `_endpoint_map`: China regions -> business.aliyuncs.com, the
        # international ones -> business.ap-southeast-1.aliyuncs.com.
        return "business.aliyuncs.com" if config.site == "china" else "business.ap-southeast-1.aliyuncs.com"
    if product == "cs":
        return f"cs.{region}.aliyuncs.com"
    if product == "eci":
        return f"eci.{region}.aliyuncs.com"
    if product == "ecs":
        return "ecs-cn-hangzhou.aliyuncs.com" if region == "cn-hangzhou" else f"ecs.{region}.aliyuncs.com"
    return "vpc.aliyuncs.com" if region == "cn-hangzhou" else f"vpc.{region}.aliyuncs.com"
