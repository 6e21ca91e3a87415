"""Settings from the environment and `.env`, so every client configures the same way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from pydantic import ValidationError

MAX_QUESTION_CHARS = 2000


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("newsqa", appauthor=False))


class Settings(BaseSettings):
    """All knobs; env vars are NEWSQA_<NAME> unless an alias says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str | None = None
    collection: str = "newsqa"
    # "minilm" (int8 ONNX, default), "st:<path or name>" (sentence-transformers), "openai:<model>"
    embedding: str = "minilm"
    # onnxruntime threads for the MiniLM model (benchmarks/scale.py measures 1 against 2)
    embedding_threads: int = Field(default=2, ge=1, le=64)
    mode: Literal["extractive", "llm"] = "extractive"
    k: int = Field(default=8, ge=1, le=50)
    chunk_tokens: int = Field(default=160, ge=32, le=2000)

    # LLM mode
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "NEWSQA_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "NEWSQA_OPENAI_BASE_URL")
    )
    llm_model: str | None = None
    llm_timeout: float = Field(default=60.0, gt=0)
    # One overall deadline per answer (all attempts and backoff included); then the extractive answer.
    llm_deadline: float = Field(default=20.0, gt=0)
    llm_retries: int = Field(default=2, ge=0, le=10)
    llm_context_tokens: int = Field(default=3000, ge=256)
    llm_window_tokens: int = Field(default=8192, ge=512)
    llm_max_answer_tokens: int = Field(default=400, ge=16)
    unsupported: Literal["keep", "flag", "drop"] = "drop"

    # Discord
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSQA_DISCORD_TOKEN")
    )
    discord_rate_per_minute: int = Field(default=5, ge=1)
    discord_guild_ids: list[int] = Field(default_factory=list)
    discord_channel_ids: list[int] = Field(default_factory=list)
    discord_test_guild: int | None = None
    discord_answer_mentions: bool = True
    discord_max_concurrent: int = Field(default=2, ge=1)


# Fields whose values are never echoed in an error message.
SECRET_FIELDS = {"openai_api_key", "discord_token"}
ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL", "discord_token": "DISCORD_TOKEN"}


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI overrides applied (None means "not given"); a bad value raises ConfigError (one line)."""
    from pydantic import ValidationError

    from .errors import ConfigError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise ConfigError(settings_error_message(exc, given)) from None
    except ValueError as exc:  # pydantic-settings' SettingsError: a list or JSON value that doesn't parse
        import re

        m = re.search(r'field "(\w+)"', str(exc))
        field = m.group(1) if m else ""
        name = ENV_NAMES.get(field, f"NEWSQA_{field.upper()}") if field else "a setting"
        raise ConfigError(f"invalid setting {name}: it should be JSON, e.g. [123, 456] for a list") from None
    register_secrets(settings)
    return settings


def register_secrets(settings: Settings) -> None:
    """Tell the redactor the configured secrets, so an endpoint echoing one is never shown or stored."""
    from .errors import register_secret

    for name in SECRET_FIELDS:
        value = getattr(settings, name, None)
        if value is not None:
            register_secret(value.get_secret_value())


def settings_error_message(exc: ValidationError, given: dict[str, Any] | None = None) -> str:
    """A plain one-line message for a pydantic ValidationError of `Settings`: which variable, what is wrong."""
    given = given or {}
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if not isinstance(x, int)]
        field = loc[0] if loc else "?"
        name = ENV_NAMES.get(field, f"NEWSQA_{field.upper()}")
        where = f"{name} (or its command-line flag)" if field in given else name
        msg = str(e.get("msg", "invalid value")).split(",")[0]
        msg = msg[0].lower() + msg[1:] if msg else "invalid value"
        msg = msg.replace("input should be", "it should be")
        value = e.get("input")
        shown = ""
        if field not in SECRET_FIELDS and isinstance(value, (str, int, float)) and len(str(value)) <= 60:
            shown = f" (got {str(value)!r})"
        parts.append(f"{where}{shown}: {msg}")
    return "invalid setting " + "; ".join(parts or ["(unknown)"])
