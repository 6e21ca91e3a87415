"""Settings from the environment and `.env`, so every client configures the same way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    # Seconds to wait for a lock another process holds on the index's database, then exit 10 naming it.
    lock_timeout: float = Field(default=10.0, gt=0)

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

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: Any) -> Any:
        # An empty NEWSQA_DATA_DIR= (or --data-dir "") would be the working directory: never silently.
        if isinstance(value, (str, Path)) and not str(value).strip():
            raise ValueError(f"it is empty; unset it to use the default ({default_data_dir()}), or give a folder")
        return value


# Fields whose values are never echoed in an error message.
SECRET_FIELDS = {"openai_api_key", "discord_token"}
ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL", "discord_token": "DISCORD_TOKEN"}


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI overrides applied (None means "not given"); a bad value raises ConfigError (one line)."""
    settings = build_settings(Settings, **overrides)
    register_secrets(settings)
    return settings


S = TypeVar("S", bound=BaseSettings)
DOTENV = ".env"  # read from the working directory, as pydantic-settings does


def build_settings(cls: type[S], **overrides: Any) -> S:
    """`cls(**overrides)` (None values dropped), any error one ConfigError line naming the variable, where
    its value came from (the environment or the .env file) and what is wrong, never the secret's value."""
    from pydantic import ValidationError

    from .errors import ConfigError

    given = {k: v for k, v in overrides.items() if v is not None}
    prefix = str(cls.model_config.get("env_prefix", ""))
    _quiet_dotenv()
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(settings_error_message(exc, given, prefix)) from None
    except UnicodeDecodeError as exc:  # a .env of binary garbage
        raise ConfigError(f"the settings file {_dotenv_shown()} is not UTF-8 text (byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}); fix it or remove it") from None
    except ValueError as exc:  # pydantic-settings' SettingsError: a list or JSON value that doesn't parse
        import re

        m = re.search(r'field "(\w+)"', str(exc))
        field = m.group(1) if m else ""
        name = env_name(field, prefix) if field else "a setting"
        source = f" in {_dotenv_shown()}" if "DotEnv" in str(exc) else ""
        raise ConfigError(f"invalid setting {name}{source}: it should be JSON, e.g. [123, 456] for a list") from None


def env_name(field: str, prefix: str = "NEWSQA_") -> str:
    """The environment variable of a settings field."""
    return ENV_NAMES.get(field, f"{prefix}{field.upper()}")


def _dotenv_shown() -> str:
    return str(Path(DOTENV).resolve())


def _dotenv_values() -> dict[str, str | None]:
    """The .env file's values (empty when it is missing or unreadable)."""
    try:
        from dotenv import dotenv_values

        _quiet_dotenv()
        return dict(dotenv_values(DOTENV)) if Path(DOTENV).is_file() else {}
    except (OSError, ValueError):
        return {}


def _quiet_dotenv() -> None:
    """python-dotenv logs unparsable lines itself, unformatted; newsqa says it in one line (`setting_warnings`)."""
    import logging

    logging.getLogger("dotenv.main").setLevel(logging.ERROR)


def _source(name: str) -> str:
    """Where a variable's value came from, for messages: the environment wins over .env, as in pydantic-settings."""
    import os

    if name in os.environ:
        return ""
    if name in _dotenv_values() or name.lower() in {k.lower() for k in _dotenv_values()}:
        return f" in {_dotenv_shown()}"
    return ""


def known_variables() -> set[str]:
    """Every NEWSQA_* variable some part of newsqa reads."""
    from .web import WebSettings

    names = {env_name(f) for f in Settings.model_fields}
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        for choice in getattr(alias, "choices", ()):
            names.add(str(choice))
    names |= {f"NEWSQA_WEB_{f.upper()}" for f in WebSettings.model_fields}
    return names | EXTRA_VARIABLES


EXTRA_VARIABLES = {"NEWSQA_REALTIMEQA"}  # read by the evals (evals/realtimeqa.py), not by Settings


def setting_warnings(environ: dict[str, str] | None = None) -> list[str]:
    """One line per NEWSQA_* variable that no setting reads (a misspelling: "NEWSQA_KK is not a setting; did
    you mean NEWSQA_K?"), and per line of .env that can't be read; from the environment and .env."""
    import difflib
    import os

    env = dict(os.environ if environ is None else environ)
    known = known_variables()
    out = []
    sources = [(name, "") for name in env] + [(name, f" (in {_dotenv_shown()})") for name in _dotenv_values()]
    seen: set[str] = set()
    for name, where in sources:
        upper = name.upper()
        if not upper.startswith("NEWSQA_") or upper in known or upper in seen:
            continue
        seen.add(upper)
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; it is ignored"
        out.append(f"{name}{where} is not a newsqa setting{hint}")
    out += _dotenv_problems()
    return out


def _dotenv_problems() -> list[str]:
    """Lines of .env that python-dotenv can't parse (they are ignored), each said once."""
    path = Path(DOTENV)
    if not path.is_file():
        return []
    try:
        from dotenv.parser import parse_stream

        with open(path, encoding="utf-8") as fh:
            bad = [b.original.line for b in parse_stream(fh) if b.error]
    except (OSError, ValueError, ImportError, AttributeError):
        return []
    return [f"{_dotenv_shown()} line {n} is not NAME=value; it is ignored" for n in bad]


def register_secrets(settings: Settings) -> None:
    """Tell the redactor the configured secrets, so an endpoint echoing one is never shown or stored."""
    from .errors import register_secret

    for name in SECRET_FIELDS:
        value = getattr(settings, name, None)
        if value is not None:
            register_secret(value.get_secret_value())


def settings_error_message(exc: ValidationError, given: dict[str, Any] | None = None, prefix: str = "NEWSQA_") -> str:
    """A plain one-line message for a pydantic ValidationError of settings: which variable (and whether it
    came from .env), what is wrong, and the value unless it is a secret."""
    given = given or {}
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if not isinstance(x, int)]
        field = loc[0] if loc else "?"
        name = env_name(field, prefix)
        where = f"{name} (or its command-line flag)" if field in given else name + _source(name)
        msg = str(e.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ") if msg.startswith("Value error, ") else msg.split(",")[0]
        msg = msg[0].lower() + msg[1:] if msg else "invalid value"
        msg = msg.replace("input should be", "it should be")
        value = e.get("input")
        shown = ""
        if field not in SECRET_FIELDS and isinstance(value, (str, int, float)) and len(str(value)) <= 60:
            shown = f" (got {str(value)!r})"
        parts.append(f"{where}{shown}: {msg}")
    return "invalid setting " + "; ".join(parts or ["(unknown)"])
