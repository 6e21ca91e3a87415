"""Settings from the environment and `.env`, so every client configures the same way.

One `Settings`, nested by concern: retrieval and the index at the top, `settings.llm` (LLM mode and the
OpenAI-compatible endpoint), `settings.discord` (the bot) and `settings.web` (URL ingest). Each field has a
description, which `newsqa config` prints beside its variable and value.

The variables are the ones newsqa has always read: a top-level field is NEWSQA_<FIELD>; a field of a group is
the group's prefix plus the field (NEWSQA_LLM_MODEL, NEWSQA_DISCORD_RATE_PER_MINUTE, NEWSQA_WEB_TIMEOUT), unless
it names its variables itself (OPENAI_API_KEY, OPENAI_BASE_URL, NEWSQA_UNSUPPORTED, DISCORD_TOKEN).

Every group reads the environment first, then the `.env` file in the working directory, with the one
configuration in `_FromEnv`; nothing else builds settings of its own. In code, a group's field can also be
given by its flat name, the variable without NEWSQA_ and lower-cased: `Settings(llm_model="x",
discord_rate_per_minute=3, unsupported="flag", openai_base_url=url)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from pydantic import ValidationError

MAX_QUESTION_CHARS = 2000
DOTENV = ".env"  # read from the working directory, as pydantic-settings does


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("newsqa", appauthor=False))


class _FromEnv(BaseSettings):
    """What every settings group shares: the environment first, then `.env` in the working directory."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", env_file=DOTENV, extra="ignore", populate_by_name=True)


class LLMSettings(_FromEnv):
    """LLM mode (`--mode llm`) and the OpenAI-compatible endpoint it uses (also `--embedding openai:<model>`)."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_LLM_")

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "NEWSQA_OPENAI_API_KEY"),
        description="The endpoint's API key (never printed or stored); a local server needs none.")
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "NEWSQA_OPENAI_BASE_URL"),
        description="An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; unset: OpenAI's API.")
    model: str | None = Field(default=None, description="The model name to request; LLM mode needs it.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per request (for streaming, per read), "
                           "capped by what is left of the deadline.")
    deadline: float = Field(default=20.0, gt=0, description="Seconds for the whole LLM answer, every attempt and "
                            "backoff wait included; then the extractive answer is shown.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries after a timeout, a refused connection, HTTP 429 "
                         "or 5xx, or a malformed or empty reply.")
    context_tokens: int = Field(default=3000, ge=256, description="Token budget for the sources in the prompt.")
    window_tokens: int = Field(default=8192, ge=512, description="The model's context window (the server's n_ctx).")
    max_answer_tokens: int = Field(default=400, ge=16, description="The longest answer requested.")
    unsupported: Literal["keep", "flag", "drop"] = Field(
        default="drop", validation_alias=AliasChoices("NEWSQA_UNSUPPORTED"),
        description="What an LLM answer does with sentences its sources don't back: drop, flag or keep them.")


class DiscordSettings(_FromEnv):
    """The Discord bot (`newsqa discord`)."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_DISCORD_")

    token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSQA_DISCORD_TOKEN"),
        description="The bot token (never printed or logged); `newsqa discord` needs it.")
    rate_per_minute: int = Field(default=5, ge=1, description="Questions per user a minute (/ask, mentions and DMs "
                                 "share the count).")
    guild_ids: list[int] = Field(default_factory=list, description="Allow-list of server ids, as JSON, e.g. "
                                 "[123,456]; when set, DMs are not answered. Empty: every server.")
    channel_ids: list[int] = Field(default_factory=list, description="Allow-list of channel ids, as JSON; threads "
                                   "inside an allowed channel count as allowed. Empty: every channel.")
    test_guild: int | None = Field(default=None, description="A server id to sync the slash commands to at once "
                                   "(global sync can take a while).")
    answer_mentions: bool = Field(default=True, description="Answer messages that mention the bot (false: server "
                                  "channels get slash commands only; DMs are still answered).")
    max_concurrent: int = Field(default=2, ge=1, description="Answers computed at the same time.")


class WebSettings(_FromEnv):
    """Fetching pages and feeds for `newsqa ingest URL` and `newsqa watch`."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_WEB_")

    delay: float = Field(default=1.0, ge=0, description="Seconds between two requests to the same host (or the "
                         "site's Crawl-delay, if longer).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for a whole page: connecting, the answer and "
                           "every byte of it.")
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="The largest page fetched, in bytes.")
    user_agent: str = Field(default="newsqa/0.1 (news question answering; +feeds)",
                            description="The User-Agent sent, and the name robots.txt rules are read for.")
    robots: bool = Field(default=True, description="Honour each site's robots.txt (`--ignore-robots` for one "
                         "ingest of sites of your own).")


GROUPS: dict[str, type[_FromEnv]] = {"llm": LLMSettings, "discord": DiscordSettings, "web": WebSettings}


class Settings(_FromEnv):
    """All knobs, nested by concern; see the module's docstring for the variable names."""

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the index lives.")
    chroma_url: str | None = Field(default=None, description="Use a Chroma server, e.g. http://127.0.0.1:8000 "
                                   "(`chroma run --path DIR`); unset: Chroma embedded in the data dir.")
    collection: str = Field(default="newsqa", description="The collection's name in Chroma.")
    embedding: str = Field(default="minilm", description="minilm (int8 ONNX, bundled), st:<path or name> "
                           "(the st extra) or openai:<model> (the llm extra, the endpoint of settings.llm).")
    embedding_threads: int = Field(default=2, ge=1, le=64, description="onnxruntime threads for MiniLM.")
    mode: Literal["extractive", "llm"] = Field(default="extractive", description="extractive (offline) or llm "
                                               "(a model writes the answer; settings.llm).")
    k: int = Field(default=8, ge=1, le=50, description="Passages retrieved per question.")
    chunk_tokens: int = Field(default=160, ge=32, le=2000, description="Chunk size in tokens (cl100k).")
    lock_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for another process's lock on the "
                                "index database, then exit 10 naming it.")

    llm: LLMSettings = Field(default_factory=LLMSettings, description="LLM mode and its endpoint.")
    discord: DiscordSettings = Field(default_factory=DiscordSettings, description="The Discord bot.")
    web: WebSettings = Field(default_factory=WebSettings, description="URL ingest.")

    def __init__(self, **values: Any) -> None:
        # Each group reads the environment itself (pydantic validates a dict into a nested model without
        # reading anything), with the same .env choice as this one; flat names go into their group.
        env: dict[str, Any] = {k: values[k] for k in ("_env_file", "_env_file_encoding") if k in values}
        for name, cls in GROUPS.items():
            flat = {field: values.pop(key) for key, field in flat_names(name).items() if key in values}
            given = values.get(name)
            if isinstance(given, cls) and not flat:
                continue
            if isinstance(given, BaseModel):
                given = {k: getattr(given, k) for k in type(given).model_fields}
            values[name] = cls(**{**(given or {}), **flat}, **env)
        super().__init__(**values)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: Any) -> Any:
        # An empty NEWSQA_DATA_DIR= (or --data-dir "") would be the working directory: never silently.
        if isinstance(value, (str, Path)) and not str(value).strip():
            raise ValueError(f"it is empty; unset it to use the default ({default_data_dir()}), or give a folder")
        return value


# ---------------------------------------------------------------------------------------------
# names: every field's variables, its flat name, and which are secret

SECRETS = {("llm", "api_key"), ("discord", "token")}  # (group, field); never echoed, always redacted


def _group_class(group: str) -> type[BaseSettings]:
    return GROUPS[group] if group else Settings


def env_names(field: str, group: str = "") -> list[str]:
    """The variables a field is read from, the documented one first (OPENAI_API_KEY before
    NEWSQA_OPENAI_API_KEY; NEWSQA_LLM_MODEL for a field without aliases)."""
    cls = _group_class(group)
    info = cls.model_fields[field]
    choices = [str(c) for c in getattr(info.validation_alias, "choices", ())]
    return choices or [f"{cls.model_config.get('env_prefix', '')}{field}".upper()]


def env_name(field: str, group: str = "") -> str:
    """The environment variable of a settings field (of `group`, "" for the top level)."""
    return env_names(field, group)[0]


def flat_names(group: str) -> dict[str, str]:
    """A group's fields by their flat names (the variable without NEWSQA_, lower-cased): {"llm_model": "model",
    "openai_api_key": "api_key", "unsupported": "unsupported", "discord_token": "token", ...}."""
    out: dict[str, str] = {}
    for field in GROUPS[group].model_fields:
        for name in env_names(field, group):
            out[name.lower().removeprefix("newsqa_")] = field
    return out


def find_field(name: str) -> tuple[str, str] | None:
    """(group, field) of a field name, a flat name or a variable, or None."""
    key = name.lower().removeprefix("newsqa_")
    if key in Settings.model_fields and key not in GROUPS:
        return "", key
    for group in GROUPS:
        if key in flat_names(group):
            return group, flat_names(group)[key]
        if key in GROUPS[group].model_fields:
            return group, key
    return None


EXTRA_VARIABLES = {"NEWSQA_REALTIMEQA", "NEWSQA_SLOW_TESTS"}  # read by the evals and the tests, not by Settings


def known_variables() -> set[str]:
    """Every NEWSQA_* (and OPENAI_*, DISCORD_*) variable some part of newsqa reads."""
    names = {n for f in Settings.model_fields if f not in GROUPS for n in env_names(f)}
    names |= {n for g, cls in GROUPS.items() for f in cls.model_fields for n in env_names(f, g)}
    return names | EXTRA_VARIABLES


@dataclass
class SettingInfo:
    """One setting as `newsqa config` shows it."""

    path: str  # "k", "llm.model"
    variable: str
    value: str  # as configured, secrets as *** (or "" when unset)
    default: str
    description: str


def describe(settings: Settings) -> list[SettingInfo]:
    """Every setting with its variable, its value now (secrets hidden), its default and what it does."""
    rows = []
    for group, model in [("", settings)] + [(g, getattr(settings, g)) for g in GROUPS]:
        for field, info in type(model).model_fields.items():
            if not group and field in GROUPS:
                continue
            value = getattr(model, field)
            default = info.get_default(call_default_factory=True)
            if (group, field) in SECRETS:
                shown = "***" if value is not None and value.get_secret_value() else ""
                default_shown = ""
            else:
                shown, default_shown = _shown(value), _shown(default)
            rows.append(SettingInfo(f"{group}.{field}" if group else field, env_name(field, group), shown,
                                    default_shown, info.description or ""))
    return rows


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        import json

        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# building settings, and saying plainly what is wrong with them


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI overrides applied (None means "not given"; flat names, e.g. `unsupported`); a bad
    value raises ConfigError (one line)."""
    settings = build_settings(Settings, **overrides)
    register_secrets(settings)
    return settings


S = TypeVar("S", bound=BaseSettings)


def build_settings(cls: type[S], **overrides: Any) -> S:
    """`cls(**overrides)` (None values dropped), any error one ConfigError line naming the variable, where
    its value came from (the environment or the .env file) and what is wrong, never the secret's value."""
    from pydantic import ValidationError

    from .errors import ConfigError

    given = {k: v for k, v in overrides.items() if v is not None}
    _quiet_dotenv()
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(settings_error_message(exc, given)) from None
    except UnicodeDecodeError as exc:  # a .env of binary garbage
        raise ConfigError(f"the settings file {_dotenv_shown()} is not UTF-8 text (byte {exc.start} is "
                          f"{exc.object[exc.start:exc.start + 1]!r}); fix it or remove it") from None
    except ValueError as exc:  # pydantic-settings' SettingsError: a list or JSON value that doesn't parse
        import re

        m = re.search(r'field "(\w+)"', str(exc))
        found = find_field(m.group(1)) if m else None
        name = env_name(found[1], found[0]) if found else "a setting"
        source = f" in {_dotenv_shown()}" if "DotEnv" in str(exc) else ""
        raise ConfigError(f"invalid setting {name}{source}: it should be JSON, e.g. [123, 456] for a list") from None


def _dotenv_shown() -> str:
    return str(Path(DOTENV).resolve())


def _dotenv_values() -> dict[str, str | None]:
    """The .env file's values, for saying where a bad value came from (empty when missing or unreadable)."""
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
    values = _dotenv_values()
    if name in values or name.lower() in {k.lower() for k in values}:
        return f" in {_dotenv_shown()}"
    return ""


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

    for group, field in SECRETS:
        value = getattr(getattr(settings, group), field, None)
        if value is not None:
            register_secret(value.get_secret_value())


def settings_error_message(exc: ValidationError, given: dict[str, Any] | None = None) -> str:
    """A plain one-line message for a pydantic ValidationError of settings: which variable (and whether it
    came from .env), what is wrong, and the value unless it is a secret."""
    given = given or {}
    group = next((g for g, cls in GROUPS.items() if exc.title == cls.__name__), "")
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if not isinstance(x, int)]
        if not group and len(loc) > 1 and loc[0] in GROUPS:
            where_group, field = loc[0], loc[1]
        else:
            where_group, field = group, loc[0] if loc else "?"
        known = field in _group_class(where_group).model_fields
        name = env_name(field, where_group) if known else f"NEWSQA_{field.upper()}"
        flat = [k for k, f in flat_names(where_group).items() if f == field] if where_group else [field]
        from_flag = any(k in given for k in flat)
        where = f"{name} (or its command-line flag)" if from_flag else name + _source(name)
        msg = str(e.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ") if msg.startswith("Value error, ") else msg.split(",")[0]
        msg = msg[0].lower() + msg[1:] if msg else "invalid value"
        msg = msg.replace("input should be", "it should be")
        value = e.get("input")
        shown = ""
        if (where_group, field) not in SECRETS and isinstance(value, (str, int, float)) and len(str(value)) <= 60:
            shown = f" (got {str(value)!r})"
        parts.append(f"{where}{shown}: {msg}")
    return "invalid setting " + "; ".join(parts or ["(unknown)"])
