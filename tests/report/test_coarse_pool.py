"""A pooled size distribution of micrographs on both sides of the half-membrane limit (2.31 nm/px) says so where
its numbers are read: the report's size statistics and `exo-vision histogram` (size53 F2/F3)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import tifffile

from exo_vision.cli.main import main
from exo_vision.synthetic.tem import make_synthetic_tem


def _tem_run(tmp_path: Path, name: str, pixel_sizes_nm: tuple[float, ...]) -> Path:
    inputs, out = tmp_path / f"{name}_in", tmp_path / name
    inputs.mkdir()
    for seed, nm in enumerate(pixel_sizes_nm):
        image, _ = make_synthetic_tem(
            (256, 256), pixel_size_nm=nm, difficulty="easy", n_vesicles=4, scale_bar=False, rng=seed
        )
        tifffile.imwrite(
            inputs / f"m{seed}.tif", image, imagej=True, resolution=(1 / nm, 1 / nm), metadata={"unit": "nm"}
        )
    assert main(["tem", str(inputs), "--out", str(out), "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> Path:
    return _tem_run(tmp_path_factory.mktemp("mixed"), "mixed", (2.0, 3.0))


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_the_reports_size_statistics_name_a_pool_mixing_outline_constructions(mixed_run, tmp_path):
    page = tmp_path / "r.html"
    assert main(["report", "--tem", str(mixed_run), "--out", str(page)]) == 0
    statistics = _text(page)[_text(page).index("Size statistics (TEM") :]
    assert "The pooled statistics: 1 of the 2 pooled micrographs have pixels coarser than 2.31 nm/px" in statistics
    assert "mixes two outline constructions" in statistics and "not a correction factor" in statistics

    fine = _tem_run(tmp_path, "fine", (1.0, 2.0))
    assert main(["report", "--tem", str(fine), "--out", str(tmp_path / "f.html")]) == 0
    assert "pooled micrographs have pixels coarser" not in _text(tmp_path / "f.html")


def _svg_text(path: Path) -> str:
    return " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))).replace("\xa0", " ").split()
    )


def test_histogram_of_a_tem_folder_warns_and_carries_its_provenance(mixed_run, tmp_path, caplog):
    """`exo-vision histogram <tem folder>` was refused (size53 F6); the figure and bin table said nothing of pixel
    size, method, size limit, edge-cut vesicles or the coarse outlines, and nothing was printed (F3)."""
    import pandas as pd

    figure = tmp_path / "h.svg"
    assert main(["histogram", str(mixed_run), "--out", str(figure)]) == 0
    assert "1 of the 2 pooled micrographs have pixels coarser than 2.31 nm/px" in caplog.text
    bins = pd.read_csv(tmp_path / "h_bins.csv", dtype=str, keep_default_na=False)
    assert list(bins.columns[:7]) == ["group", "bin_left_nm", "bin_right_nm", "count", "weight", "fraction", "percent"]
    row = bins.iloc[0]
    assert (row["pixel_size_nm"], row["min_diameter_nm"]) == ("2-3", "20")
    assert row["pixel_size_source"].startswith("file metadata")
    assert row["segmenter"].startswith("unet, model ev-unet ")
    table = pd.read_csv(mixed_run / "vesicles.csv")
    assert int(row["edge_cut_left_out"]) == int(table["touches_border"].sum())
    assert row["note"].startswith("1 of 2 micrographs coarser than 2.31 nm/px: outlines without the outer half")
    caption = _svg_text(figure)
    assert "pixel size 2-3 nm/px (file metadata" in caption and "; unet, model ev-unet" in caption
    assert "vesicles under 20 nm not counted" in caption and "touching the image edge left out" in caption
    assert "1 of 2 micrographs coarser than 2.31 nm/px" in caption
    # the run's own histogram carries the same caption
    assert "pixel size 2-3 nm/px (file metadata" in _svg_text(mixed_run / "size_histogram.svg")


def test_histogram_of_a_table_without_a_run_record_reads_its_pixel_size_column(mixed_run, tmp_path, caplog):
    import pandas as pd

    alone = tmp_path / "alone.csv"
    pd.read_csv(mixed_run / "vesicles.csv").to_csv(alone, index=False)
    assert main(["histogram", str(alone), "--out", str(tmp_path / "a.png")]) == 0
    assert f"{alone}: pixel sizes up to 3 nm/px, coarser than 2.31 nm/px (no run.json" in caplog.text
    row = pd.read_csv(tmp_path / "a_bins.csv", dtype=str, keep_default_na=False).iloc[0]
    assert (row["pixel_size_nm"], row["segmenter"], row["note"]) == ("2-3", "", "")


def test_the_reports_histograms_carry_the_provenance_caption_of_the_runs_own_figure(mixed_run, tmp_path, monkeypatch):
    """The report's number- and intensity-weighted histograms had no caption: the coarse-outline note stood only in
    the Size statistics paragraph, not under the figures a reader copies out (the run's size_histogram has it)."""
    import exo_vision.report.html as report_html

    captions: list[str | None] = []
    drawn = report_html.size_histogram_figure

    def recording(*args, **kwargs):
        captions.append(kwargs.get("caption"))
        return drawn(*args, **kwargs)

    monkeypatch.setattr(report_html, "size_histogram_figure", recording)
    assert main(["report", "--tem", str(mixed_run), "--out", str(tmp_path / "r.html")]) == 0
    assert len(captions) == 2 and captions[0] == captions[1]
    caption = " ".join(str(captions[0]).replace("\xa0", " ").split())
    assert caption.startswith("pixel size 2-3 nm/px (file metadata") and "; unet, model ev-unet" in caption
    assert "vesicles under 20 nm not counted" in caption
    import pandas as pd

    table = pd.read_csv(mixed_run / "vesicles.csv")
    assert f"; {int(table['touches_border'].sum())} vesicle(s) touching the image edge left out" in caption
    assert "1 of 2 micrographs coarser than 2.31 nm/px: outlines without the outer half membrane" in caption
    # the same caption as the run's own size_histogram, which pools the same micrographs
    assert caption in _svg_text(mixed_run / "size_histogram.svg")


def test_the_reports_histogram_figcaptions_hold_the_provenance_as_text(mixed_run, tmp_path):
    """The provenance stood only inside the histogram images (pixels): a screen reader or a copied text lost the
    pixel size and its source, the method and model, and the coarse-outline note."""
    page = tmp_path / "r.html"
    assert main(["report", "--tem", str(mixed_run), "--out", str(page)]) == 0
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page.read_text(encoding="utf-8"), flags=re.S)
    histograms = [c for c in captions if "Bin width" in c]
    assert len(histograms) == 2
    for raw in histograms:
        assert "<" not in raw and "\n" not in raw  # escaped, one paragraph
        text = html.unescape(raw).replace("\xa0", " ")
        assert "Pixel size 2-3 nm/px (file metadata" in text and "; unet, model ev-unet" in text
        assert "vesicles under 20 nm not counted" in text
        assert "1 of 2 micrographs coarser than 2.31 nm/px: outlines without the outer half membrane" in text
