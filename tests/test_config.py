from __future__ import annotations

import pytest

from glm_proxy.config import DEFAULTS, Settings, SettingsError, load_settings, settings_to_env


def test_defaults_without_any_setting() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.base_url == "http://127.0.0.1:1234/v1"
    assert settings.api_key is None
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8082, "WARNING")
    assert settings.upstream_timeout == 300.0
    assert settings.glm_models == ("glm",)
    assert settings.thinking_start is None
    assert settings.reasoning_field == "reasoning_content"
    assert settings.max_body_size == 32 * 1024 * 1024
    assert settings.parser_max_buffer == 1 << 20
    assert settings.proxy_api_keys == ()
    assert settings.allow_remote is False
    assert settings.shutdown_grace == 10.0


def test_every_setting_is_read_from_the_environment() -> None:
    env = {
        "OPENAI_BASE_URL": "https://api.example.test/v1/",
        "OPENAI_API_KEY": "sk-backend",
        "HOST": "0.0.0.0",
        "PORT": "9000",
        "LOG_LEVEL": "debug",
        "UPSTREAM_TIMEOUT": "12.5",
        "GLM_MODELS": "GLM, zai-org/",
        "GLM_THINKING_START": "false",
        "REASONING_FIELD": "reasoning",
        "MAX_BODY_SIZE": "2M",
        "PARSER_MAX_BUFFER": "4096",
        "PROXY_API_KEY": " sk-one , sk-two,",
        "ALLOW_REMOTE": "yes",
        "SHUTDOWN_GRACE": "2.5",
        "MODEL_ALIASES": "Claude-* = glm-4.5-air, gpt-5*=GLM-4.7",
        "DIALECT_MODELS": "My-Org/Tuned*=glm, special=glm",
        "DETECT_DIALECT": "false",
        "RESPONSES_STORE_MAX": "50",
        "RESPONSES_STORE_MAX_AGE": "90",
        "RESPONSES_STORE_MAX_BYTES": "1M",
        "HEAD_TIMEOUT": "7.5",
        "KEEP_ALIVE_TIMEOUT": "2",
        "SEND_TIMEOUT": "90",
        "MAX_CONNECTIONS": "500",
    }
    assert set(env) == set(DEFAULTS)
    settings = load_settings(env)
    assert settings.base_url == "https://api.example.test/v1"  # trailing slash dropped
    assert settings.api_key == "sk-backend"
    assert (settings.host, settings.port, settings.log_level) == ("0.0.0.0", 9000, "DEBUG")
    assert settings.upstream_timeout == 12.5
    assert settings.glm_models == ("glm", "zai-org/")
    assert settings.thinking_start is False
    assert settings.reasoning_field == "reasoning"
    assert settings.max_body_size == 2 * 1024 * 1024
    assert settings.parser_max_buffer == 4096
    assert settings.proxy_api_keys == ("sk-one", "sk-two")
    assert settings.allow_remote is True
    assert settings.shutdown_grace == 2.5
    assert settings.model_aliases == (("claude-*", "glm-4.5-air"), ("gpt-5*", "GLM-4.7"))
    assert settings.dialect_models == (("my-org/tuned*", "glm"), ("special", "glm"))
    assert settings.detect_dialect is False
    assert settings.responses_store_max == 50
    assert settings.responses_store_max_age == 90.0
    assert settings.responses_store_max_bytes == 1 << 20
    assert (settings.head_timeout, settings.keep_alive_timeout) == (7.5, 2.0)
    assert (settings.send_timeout, settings.max_connections) == (90.0, 500)


def test_max_connections_auto_means_from_the_file_limit() -> None:
    assert load_settings({}).max_connections is None
    assert load_settings({"MAX_CONNECTIONS": " Auto "}).max_connections is None


def test_overrides_win_over_the_environment_and_none_means_not_given() -> None:
    env = {"PORT": "9000", "HOST": "0.0.0.0"}
    settings = load_settings(env, {"PORT": 7000, "HOST": None})
    assert (settings.host, settings.port) == ("0.0.0.0", 7000)


def test_an_empty_api_key_means_none() -> None:
    assert load_settings({"OPENAI_API_KEY": "  "}).api_key is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OPENAI_BASE_URL", "localhost:1234", "an http:// or https:// URL"),
        ("OPENAI_BASE_URL", "http://host:port/v1", "an http:// or https:// URL"),
        ("PORT", "eighty", "an integer from 0 to 65535"),
        ("PORT", "70000", "an integer from 0 to 65535"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("UPSTREAM_TIMEOUT", "0", "a positive number of seconds"),
        ("UPSTREAM_TIMEOUT", "nan", "a positive number of seconds"),
        ("UPSTREAM_TIMEOUT", "soon", "a positive number of seconds"),
        ("GLM_MODELS", " , ", "comma-separated parts of model names"),
        ("GLM_THINKING_START", "maybe", "auto, true or false"),
        ("REASONING_FIELD", "reasoning content", "a JSON field name"),
        ("MAX_BODY_SIZE", "0", "a positive number of bytes"),
        ("MAX_BODY_SIZE", "lots", "a positive number of bytes"),
        ("PARSER_MAX_BUFFER", "-1", "a positive number of bytes"),
        ("HOST", " ", "a non-empty value"),
        ("PROXY_API_KEY", "my key", "comma-separated keys of visible ASCII characters"),
        ("PROXY_API_KEY", "clé", "comma-separated keys of visible ASCII characters"),
        ("ALLOW_REMOTE", "sometimes", "true or false"),
        ("SHUTDOWN_GRACE", "-1", "a number of seconds, 0 or more"),
        ("SHUTDOWN_GRACE", "later", "a number of seconds, 0 or more"),
        ("MODEL_ALIASES", "claude-*", "comma-separated PATTERN=MODEL pairs"),
        ("MODEL_ALIASES", "=glm-4.7", "comma-separated PATTERN=MODEL pairs"),
        ("DIALECT_MODELS", "llama=nonesuch", "comma-separated PATTERN=DIALECT pairs"),
        ("DIALECT_MODELS", "llama", "comma-separated PATTERN=DIALECT pairs"),
        ("DETECT_DIALECT", "maybe", "true or false"),
        ("HEAD_TIMEOUT", "0", "a positive number of seconds"),
        ("KEEP_ALIVE_TIMEOUT", "never", "a positive number of seconds"),
        ("SEND_TIMEOUT", "-5", "a positive number of seconds"),
        ("MAX_CONNECTIONS", "0", "a positive number, or auto"),
        ("MAX_CONNECTIONS", "many", "a positive number, or auto"),
    ],
)
def test_a_bad_value_names_the_setting(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    message = str(raised.value)
    assert message.startswith(f"{name}: expected {expected}")
    assert "\n" not in message


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="BASE_URL: not a setting"):
        load_settings({}, {"BASE_URL": "http://x"})


def test_the_key_is_not_repeated_in_an_error_message() -> None:
    from glm_proxy.config import _bad

    error = _bad("OPENAI_API_KEY", {"OPENAI_API_KEY": "sk-secret"}, "something")
    assert "sk-secret" not in str(error)
    with pytest.raises(SettingsError) as raised:
        load_settings({"PROXY_API_KEY": "sk-good,sk bad"})
    assert "sk" not in str(raised.value).removeprefix("PROXY_API_KEY")


def test_keys_do_not_show_in_the_settings_repr() -> None:
    settings = load_settings({"OPENAI_API_KEY": "sk-backend-1", "PROXY_API_KEY": "sk-client-1"})
    assert "sk-backend-1" not in repr(settings)
    assert "sk-client-1" not in repr(settings)


def test_a_zero_grace_ends_requests_at_once() -> None:
    assert load_settings({"SHUTDOWN_GRACE": "0"}).shutdown_grace == 0.0


@pytest.mark.parametrize(
    ("model", "glm"),
    [
        ("glm-4.5-air", True),
        ("GLM-4.7-Flash", True),
        ("zai-org/GLM-4.6-FP8", True),
        ("qwen3-coder-30b", False),
        ("gpt-4o", False),
    ],
)
def test_glm_models_match_case_insensitive_substrings(model: str, glm: bool) -> None:
    assert load_settings({}).is_glm(model) is glm


def test_glm_models_star_matches_every_model_and_a_list_widens_the_match() -> None:
    assert load_settings({"GLM_MODELS": "*"}).is_glm("qwen3-coder")
    wider = load_settings({"GLM_MODELS": "glm,qwen"})
    assert wider.is_glm("Qwen3-Coder")
    assert wider.is_glm("glm-4.5")
    assert not wider.is_glm("llama")


@pytest.mark.parametrize(
    ("model", "starts"),
    [
        ("glm-4.5-air", False),
        ("glm-4.6", False),
        ("glm-4.7", True),
        ("GLM-4.7-Flash", True),
        ("zai-org/glm-5", True),
        ("glm-5.1-air", True),
        ("glm4.7", True),
        ("glm-4.10", True),
        ("glm-z1-9b", False),
        ("my-model", False),
    ],
)
def test_thinking_start_auto_follows_the_model_version(model: str, starts: bool) -> None:
    assert load_settings({}).starts_in_reasoning(model) is starts


@pytest.mark.parametrize(("value", "starts"), [("true", True), ("false", False)])
def test_thinking_start_setting_overrides_the_model_name(value: str, starts: bool) -> None:
    settings = load_settings({"GLM_THINKING_START": value})
    assert settings.starts_in_reasoning("glm-4.5") is starts
    assert settings.starts_in_reasoning("glm-4.7") is starts


def test_settings_survive_a_round_trip_through_the_environment() -> None:
    settings = load_settings(
        {
            "OPENAI_API_KEY": "sk-x",
            "GLM_MODELS": "*",
            "GLM_THINKING_START": "true",
            "UPSTREAM_TIMEOUT": "0.25",
            "PORT": "0",
            "PROXY_API_KEY": "k1,k2",
            "ALLOW_REMOTE": "true",
            "SHUTDOWN_GRACE": "0.5",
            "MODEL_ALIASES": "claude-*=glm-4.5-air,*=glm-4.7",
        }
    )
    assert load_settings(settings_to_env(settings)) == settings
    assert load_settings(settings_to_env(Settings())) == Settings()


def test_model_aliases_map_client_models_to_backend_models_first_match_wins() -> None:
    settings = load_settings({"MODEL_ALIASES": "claude-*haiku*=glm-4.5-air,claude-*=glm-4.7"})
    assert settings.backend_model("claude-3-5-haiku-20241022") == "glm-4.5-air"
    assert settings.backend_model("Claude-Sonnet-4-5") == "glm-4.7"
    assert settings.backend_model("glm-4.6") == "glm-4.6"  # no pattern: the client's name
    assert load_settings({}).backend_model("claude-sonnet-4-5") == "claude-sonnet-4-5"


def test_the_dialect_follows_glm_models_then_dialect_models() -> None:
    settings = load_settings({"GLM_MODELS": "glm,zai", "DIALECT_MODELS": "tuned*coder=glm"})
    assert settings.dialect_for("zai-org/GLM-4.5-Air") == "glm"
    assert settings.dialect_for("my-tuned-qwen-coder-7b") == "glm"  # * inside a pattern
    assert settings.dialect_for("llama-3.1-8b") is None  # no setting names it: detected


def test_public_base_url_hides_credentials() -> None:
    settings = load_settings({"OPENAI_BASE_URL": "https://user:secret@api.example.test:8443/v1"})
    assert settings.public_base_url() == "https://api.example.test:8443/v1"
    assert load_settings({}).public_base_url() == "http://127.0.0.1:1234/v1"


def test_env_example_documents_every_setting_with_its_default() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = {}
    for line in text.splitlines():
        name, sep, value = line.removeprefix("# ").partition("=")
        if sep and name in DEFAULTS:
            documented[name] = value
    assert set(documented) == set(DEFAULTS)
    assert load_settings(documented) == Settings()
