"""The memory estimate of one analysis and the memory available, by hand-computed values."""

from __future__ import annotations

import pytest

from exo_vision._shared import resources
from exo_vision._shared.resources import available_memory_mb, estimated_peak_mb, working_pixels


def test_working_pixels_follow_the_pixel_size_squared():
    # 1000 x 2000 px at 6 nm/px seen at 3 nm/px: enlarged twice on each side, 8 million pixels
    assert working_pixels((1000, 2000), pixel_size_nm=6.0, working_scale_nm=3.0) == pytest.approx(8e6)
    # the classical method never enlarges: the image's own 2 million
    assert working_pixels((1000, 2000), pixel_size_nm=6.0, working_scale_nm=2.0, enlarges=False) == pytest.approx(2e6)
    # 0.75 nm/px shrunk to 3 nm/px: a sixteenth
    assert working_pixels((1000, 2000), pixel_size_nm=0.75, working_scale_nm=3.0) == pytest.approx(125_000)


def test_estimated_peak_by_hand():
    # 400 MB + 14 B x 2e6 image pixels + 55 B x 8e6 working pixels = 400 + 28 + 440
    assert estimated_peak_mb((1000, 2000), pixel_size_nm=6.0, working_scale_nm=3.0) == pytest.approx(868.0)
    # the same image, classical at 2 nm/px without enlargement: 400 + 28 + 110
    assert estimated_peak_mb((1000, 2000), pixel_size_nm=6.0, working_scale_nm=2.0, enlarges=False) == pytest.approx(
        538.0
    )
    # fine pixels: 400 + 28 + 55 x 125000 / 1e6
    assert estimated_peak_mb((1000, 2000), pixel_size_nm=0.75, working_scale_nm=3.0) == pytest.approx(434.875)


@pytest.mark.parametrize(
    ("shape", "pixel_size_nm", "measured_mb"),
    [
        # peaks of exo-vision tem measured with /usr/bin/time -v on generated and tiled micrographs (one core)
        ((4096, 4096), 0.8, 678),
        ((4096, 4096), 3.0, 1478),
        ((2048, 2048), 5.0, 1061),
        ((6144, 6144), 0.8, 1091),
        ((8192, 8192), 2.4, 3300),
        ((7900, 7900), 3.0, 4430),
    ],
)
def test_the_estimate_holds_the_measured_peaks(shape, pixel_size_nm, measured_mb):
    estimate = estimated_peak_mb(shape, pixel_size_nm=pixel_size_nm, working_scale_nm=3.0)
    assert measured_mb * 0.97 <= estimate <= measured_mb * 1.15


def test_available_memory_reads_memavailable(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        4000000 kB\nMemFree:          100000 kB\nMemAvailable:    2500000 kB\n")
    real_open = open

    def fake_open(path, *args, **kwargs):
        return real_open(meminfo if path == "/proc/meminfo" else path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert available_memory_mb() == pytest.approx(2500000 * 1024 / 1e6)  # 2560 MB


def test_available_memory_falls_back_to_sysconf(monkeypatch):
    def no_meminfo(path, *args, **kwargs):
        raise FileNotFoundError(path)

    monkeypatch.setattr("builtins.open", no_meminfo)
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(resources.os, "sysconf", lambda name: pages[name])
    assert available_memory_mb() == pytest.approx(4.096)
    monkeypatch.delattr(resources.os, "sysconf")  # Windows: not known
    assert available_memory_mb() is None


def test_the_memory_a_control_group_allows_is_read_for_v1_and_v2(tmp_path):
    from exo_vision._shared.resources import cgroup_room_mb

    # cgroup v2: a job limited to 1.5 GB (1.1 GB used) inside a slice limited to 4 GB: 0.4 GB left
    job = tmp_path / "v2" / "slurm" / "job_7"
    job.mkdir(parents=True)
    (tmp_path / "v2" / "slurm" / "memory.max").write_text("4000000000\n")
    (tmp_path / "v2" / "slurm" / "memory.current").write_text("1200000000\n")
    (job / "memory.max").write_text("1500000000\n")
    (job / "memory.current").write_text("1100000000\n")
    (tmp_path / "self_v2").write_text("0::/slurm/job_7\n")
    assert cgroup_room_mb(tmp_path / "v2", tmp_path / "self_v2") == pytest.approx(400.0)
    (job / "memory.max").write_text("max\n")  # no limit of its own: the slice's room
    assert cgroup_room_mb(tmp_path / "v2", tmp_path / "self_v2") == pytest.approx(2800.0)
    # cgroup v1: the memory controller's hierarchy, "no limit" written as the largest page multiple
    docker = tmp_path / "v1" / "memory" / "docker" / "abc"
    docker.mkdir(parents=True)
    (docker / "memory.limit_in_bytes").write_text("2000000000\n")
    (docker / "memory.usage_in_bytes").write_text("500000000\n")
    (tmp_path / "self_v1").write_text("12:pids:/docker/abc\n9:memory:/docker/abc\n1:name=systemd:/docker/abc\n")
    assert cgroup_room_mb(tmp_path / "v1", tmp_path / "self_v1") == pytest.approx(1500.0)
    (docker / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_room_mb(tmp_path / "v1", tmp_path / "self_v1") is None
    assert cgroup_room_mb(tmp_path / "v1", tmp_path / "missing") is None
