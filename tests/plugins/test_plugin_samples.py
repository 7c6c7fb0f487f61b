"""Sample data under File > Open Sample > exo_vision."""

from __future__ import annotations

from pathlib import Path

import npe2
import pytest

pytest.importorskip("napari")

from exo_vision.plugins.samples import SAMPLE_DIRS  # noqa: E402

SAMPLE_DIR = SAMPLE_DIRS[0]  # the source checkout's folder

SHIPPED = {
    # key: (file, expected nm/px or None for blots, kind)
    "tem_real": ("hrml_ev_negative_stain.jpg", 0.624, "tem"),
    "tem_medium": ("tem_medium_0.8nm.tif", 0.8, "tem"),
    "tem_hard": ("tem_hard_0.8nm.tif", 0.8, "tem"),
    "tem_dark": ("tem_dark_1.2nm.tif", 1.2, "tem"),
    "blot_panel": ("blot_panel.tif", None, "blot"),
    "blot_panel_export8": ("blot_panel_export8.tif", None, "blot"),
    "blot_dilution": ("blot_dilution.tif", None, "blot"),
}


def test_manifest_lists_every_shipped_sample_image():
    manifest = npe2.PluginManifest.from_distribution("exo-vision")
    keys = {s.key for s in manifest.contributions.sample_data}
    assert set(SHIPPED) | {"tem_generated", "blot_generated"} == keys
    shipped_images = {
        p.name for p in Path(SAMPLE_DIR).glob("*") if p.suffix in (".tif", ".jpg") and "_truth" not in p.name
    }
    assert shipped_images <= {file for file, _, _ in SHIPPED.values()}


@pytest.mark.parametrize("key", ["tem_medium", "tem_dark", "blot_panel"])
def test_shipped_sample_opens_with_its_calibration(make_napari_viewer, key):
    file, pixel_size_nm, kind = SHIPPED[key]
    if not (SAMPLE_DIR / file).is_file():
        pytest.skip(f"{SAMPLE_DIR / file} not present")
    viewer = make_napari_viewer()
    (layer,) = viewer.open_sample("exo-vision", key)
    assert layer.metadata["kind"] == kind
    if pixel_size_nm is None:
        assert layer.metadata["polarity"] in ("bright", "dark")
        assert layer.metadata["max_value"] is not None
    else:
        assert tuple(layer.scale) == pytest.approx((pixel_size_nm, pixel_size_nm), rel=1e-3)
        assert tuple(str(u) for u in layer.units) in {("nm", "nm"), ("nanometer", "nanometer")}
        assert layer.metadata["pixel_size_source"].startswith("file metadata")


def test_generated_samples_work_without_files(make_napari_viewer):
    viewer = make_napari_viewer()
    (tem,) = viewer.open_sample("exo-vision", "tem_generated")
    assert tuple(tem.scale) == (1.0, 1.0) and tem.metadata["kind"] == "tem"
    (blot,) = viewer.open_sample("exo-vision", "blot_generated")
    assert blot.metadata["kind"] == "blot" and blot.metadata["polarity"] in ("bright", "dark")


def test_samples_are_found_where_a_wheel_installs_them(tmp_path, monkeypatch):
    import exo_vision.plugins.samples as samples

    share = tmp_path / "share" / "exo_vision" / "sample_images"
    share.mkdir(parents=True)
    (share / "tem_medium_0.8nm.tif").write_bytes(b"II*\x00")
    monkeypatch.setattr(samples, "SAMPLE_DIRS", (tmp_path / "no_checkout", share))
    assert samples.sample_path("tem_medium_0.8nm.tif") == share / "tem_medium_0.8nm.tif"
    with pytest.raises(ValueError, match="hrml_ev_negative_stain.jpg is in none of .*reinstall exo_vision"):
        samples.sample_path("hrml_ev_negative_stain.jpg")
