"""Settings nested by concern, read from the variables newsqa has always read, each with a description that
`newsqa config` prints."""

from __future__ import annotations

import json

import pytest

from retrieval.config import GROUPS, Settings, describe, env_name, known_variables, load_settings
from retrieval.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No NEWSQA_*, OPENAI_* or DISCORD_* variable from outside, and no .env in the working directory."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(("NEWSQA_", "OPENAI_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_each_group_reads_its_old_variables(clean_env, tmp_path):
    clean_env.setenv("NEWSQA_LLM_MODEL", "m1")
    clean_env.setenv("OPENAI_API_KEY", "sk-test-abcdef")
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    clean_env.setenv("NEWSQA_UNSUPPORTED", "flag")
    clean_env.setenv("DISCORD_TOKEN", "token-abcdef")
    clean_env.setenv("NEWSQA_DISCORD_GUILD_IDS", "[1, 2]")
    clean_env.setenv("NEWSQA_WEB_TIMEOUT", "3")
    (tmp_path / ".env").write_text("NEWSQA_K=4\nNEWSQA_DISCORD_RATE_PER_MINUTE=9\n", encoding="utf-8")
    s = Settings(data_dir=tmp_path / "d")
    assert (s.k, s.llm.model, s.llm.api_key.get_secret_value(), s.llm.base_url, s.llm.unsupported) == (
        4, "m1", "sk-test-abcdef", "http://127.0.0.1:9/v1", "flag")
    assert (s.discord.token.get_secret_value(), s.discord.guild_ids, s.discord.rate_per_minute) == (
        "token-abcdef", [1, 2], 9)
    assert s.web.timeout == 3.0
    assert Settings(data_dir=tmp_path / "d", _env_file=None).k == 8  # the same .env choice for every group
    assert Settings(data_dir=tmp_path / "d", _env_file=None).discord.rate_per_minute == 5


def test_flat_names_set_a_groups_field(clean_env, tmp_path):
    s = Settings(data_dir=tmp_path, llm_model="x", openai_base_url="http://h/v1", unsupported="keep",
                 discord_rate_per_minute=3, web_robots=False)
    assert (s.llm.model, s.llm.base_url, s.llm.unsupported, s.discord.rate_per_minute, s.web.robots) == (
        "x", "http://h/v1", "keep", 3, False)
    again = Settings(data_dir=tmp_path, llm=s.llm, llm_retries=0)  # a group given whole, one field changed
    assert (again.llm.model, again.llm.retries) == ("x", 0)


def test_every_setting_has_a_description_and_a_variable():
    for cls in (Settings, *GROUPS.values()):
        missing = [f for f, info in cls.model_fields.items() if not (info.description or "").strip()]
        assert missing == [], (cls.__name__, missing)
    assert {"NEWSQA_K", "NEWSQA_LLM_MODEL", "OPENAI_API_KEY", "NEWSQA_UNSUPPORTED", "DISCORD_TOKEN",
            "NEWSQA_DISCORD_CHANNEL_IDS", "NEWSQA_WEB_ROBOTS"} <= known_variables()
    assert env_name("max_answer_tokens", "llm") == "NEWSQA_LLM_MAX_ANSWER_TOKENS"


def test_a_bad_value_in_a_group_names_its_variable(clean_env, tmp_path):
    clean_env.setenv("NEWSQA_DISCORD_MAX_CONCURRENT", "0")
    with pytest.raises(ConfigError) as info:
        load_settings(data_dir=str(tmp_path))
    assert str(info.value) == ("invalid setting NEWSQA_DISCORD_MAX_CONCURRENT (got '0'): it should be greater than "
                               "or equal to 1")
    clean_env.delenv("NEWSQA_DISCORD_MAX_CONCURRENT")
    with pytest.raises(ConfigError, match=r"^invalid setting NEWSQA_UNSUPPORTED \(or its command-line flag\)"):
        load_settings(data_dir=str(tmp_path), unsupported="sometimes")


def test_newsqa_config_prints_every_setting_and_hides_secrets(clean_env, tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app

    clean_env.setenv("OPENAI_API_KEY", "sk-test-SECRET-1234")
    clean_env.setenv("NEWSQA_LLM_MODEL", "m1")
    result = CliRunner().invoke(app, ["config", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    rows = {line.split("\t")[0]: line.split("\t") for line in result.output.splitlines()}
    shown = {r.variable for r in describe(load_settings(data_dir=str(tmp_path / "d")))}
    assert set(rows) == shown and "NEWSQA_WEB_TIMEOUT" in rows and "DISCORD_TOKEN" in rows
    assert rows["NEWSQA_LLM_MODEL"][1] == "m1" and rows["OPENAI_API_KEY"][1] == "***"
    assert all(len(r) == 3 and r[2] for r in rows.values())  # variable, value, what it does
    assert "SECRET" not in result.output
    data = json.loads(CliRunner().invoke(app, ["config", "--json", "--data-dir", str(tmp_path / "d")]).output)
    k = next(d for d in data if d["variable"] == "NEWSQA_K")
    assert (k["path"], k["value"], k["default"]) == ("k", "8", "8") and k["description"]
