"""Config precedence: defaults < TOML file < environment; mistakes are user errors."""

import pytest

from reviewlake.config import load_config
from reviewlake.errors import UserError


def test_defaults_without_file_or_env():
    config = load_config(env={})
    assert config.spark.master == "local[*]"
    assert config.spark.ui_enabled is False
    assert str(config.lake) == "lake"


def test_file_then_env_override(tmp_path):
    path = tmp_path / "reviewlake.toml"
    path.write_text('lake = "/data/lake"\n[spark]\nmaster = "local[2]"\n[spark.conf]\n"spark.x" = 1\n'
                    "[clean]\nmax_text_chars = 500\n")
    config = load_config(path, env={"REVIEWLAKE_SPARK_MASTER": "spark://h:7077",
                                    "REVIEWLAKE_SPARK_CONF": "spark.y=2, spark.z=3"})
    assert str(config.lake) == "/data/lake"
    assert config.spark.master == "spark://h:7077"
    assert config.spark.conf == {"spark.x": "1", "spark.y": "2", "spark.z": "3"}
    assert config.clean.max_text_chars == 500


@pytest.mark.parametrize("content", ["[clean]\nmax_txt = 1\n", "[nope]\n", "lake = \n"])
def test_bad_config_is_a_user_error(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(UserError):
        load_config(path, env={})


def test_missing_config_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "absent.toml", env={})


def test_generated_salt_is_stable_per_lake(tmp_path):
    config = load_config(env={}).with_lake(tmp_path / "lake")
    first = config.resolved_pii_salt()
    assert first == config.resolved_pii_salt()
    assert first != load_config(env={}).with_lake(tmp_path / "other").resolved_pii_salt()
    assert (tmp_path / "lake/ops/_secrets/pii_salt").stat().st_mode & 0o077 == 0


def test_stage_sections_parse_and_lists_become_tuples(tmp_path):
    from reviewlake.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[summarize]\nmin_reviews = 5\n[tags]\nmax_tags = 8\n[recommend]\nfactors = [16, 24]\n'
                    '[similarity]\nexact_max_products = 10\n')
    config = load_config(path, env={})
    assert config.summarize.min_reviews == 5 and config.tags.max_tags == 8
    assert config.recommend.factors == (16, 24) and config.similarity.exact_max_products == 10
