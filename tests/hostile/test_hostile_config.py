"""Issue 11 items 4, 5 and 7 (config part): strict, typed, schema-checked TOML for --config and --panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exo_vision.batch.config import TemBatchConfig, build_config, read_config
from exo_vision.cli.blot import read_panel_file
from exo_vision.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"

PANEL = """\
lane_names = ["lysate", "exo1", "exo2"]
reference_lane = "lysate"
{ug}
[[marker]]
name = "CD9"
image = "blot_panel.tif"
{strip}
"""


def _panel(tmp_path: Path, *, ug: str = "ug_loaded = [20.0, 10.0, 10.0]", strip: str = "") -> Path:
    shutil.copy(SAMPLES / "blot_panel.tif", tmp_path / "blot_panel.tif")
    path = tmp_path / "panel.toml"
    path.write_text(PANEL.format(ug=ug, strip=strip))
    return path


def test_item4_misspelt_panel_key_is_an_error_naming_the_right_key(tmp_path, caplog):
    """Regression (issue 11.4): `ug_loded` was ignored and the CD9 ratio halved, exit 0."""
    path = _panel(tmp_path, ug="ug_loded = [20.0, 10.0, 10.0]")
    with pytest.raises(ValueError, match="unknown key 'ug_loded'; did you mean 'ug_loaded'"):
        read_panel_file(path)
    assert main(["blot", "--panel", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "ug_loaded" in caplog.text


def test_item4_strip_must_be_an_integer_not_a_boolean(tmp_path):
    """Regression (issue 11.4): `strip = true` was taken as strip 1."""
    with pytest.raises(ValueError, match="strip = True"):
        read_panel_file(_panel(tmp_path, strip="strip = true"))
    with pytest.raises(ValueError, match="did you mean 'name'"):
        read_panel_file(_panel(tmp_path, strip='nmae = "x"'))
    assert read_panel_file(_panel(tmp_path, strip="strip = 1")).markers[0]["strip"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pixel_size_nm = true", "pixel_size_nm = True is not a number"),
        ('exclude_border = "false"', "exclude_border = 'false' is not true or false"),
        ('scale_bar = "false"', "scale_bar = 'false' is not true or false"),
        ("size_range_nm = 5", "size_range_nm = 5 is not two numbers"),
        ("min_diameter_nm = [1]", "min_diameter_nm = \\[1\\] is not a number"),
        ("seed = 1.5", "seed = 1.5 is not a whole number"),
        ("scheduler = 5", "scheduler = 5 is not a text"),
        ("min_diametre_nm = 3", "did you mean 'min_diameter_nm'"),
        ("[tem]\nseed = 1\n[other]\nx = 1", "outside the \\[tem\\] table"),
    ],
)
def test_item5_wrong_types_in_config_are_refused(tmp_path, text, message):
    """Regression (issue 11.5 and 11.7): `pixel_size_nm = true` measured at 1 nm/px; `seed = 1.5` crashed late."""
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message):
        read_config(path)


def test_item5_config_errors_stop_before_any_analysis(tmp_path, caplog):
    path = tmp_path / "c.toml"
    path.write_text("seed = 1.5\n")
    out = tmp_path / "out"
    assert main(["tem", str(SAMPLES / "tem_dark_1.2nm.tif"), "--out", str(out), "--config", str(path)]) == 2
    assert not out.exists()
    assert "seed" in caplog.text


def test_item5_run_json_nulls_and_values_still_accepted(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"parameters": {"pixel_size_nm": null, "workers": null, "seed": 3, "size_range_nm": [30, 150]}}')
    config = build_config(read_config(path))
    assert config.seed == 3 and config.pixel_size_nm is None and config.size_range_nm == (30.0, 150.0)


def test_item5_direct_construction_is_typed_too():
    with pytest.raises(ValueError, match="exclude_border"):
        TemBatchConfig(exclude_border="false")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        TemBatchConfig(seed=-1)
