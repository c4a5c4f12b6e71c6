"""The HTTP server over a tiny random pipeline: the video it returns is the pipeline's, jobs and
their progress, bad requests, the queue's bound, cancelling, and the web page."""

import io
import threading

import numpy as np
import pytest
from conftest import tiny_pipeline

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from kinema.pipeline import SampleConfig  # noqa: E402
from kinema.server import create_app  # noqa: E402
from kinema.video import read_video  # noqa: E402

SMALL = SampleConfig(num_inference_steps=2, window_frames=9, context_frames=5,
                     buckets=((32, 32), (48, 32), (32, 48)), width=32, height=32, seconds=0.5)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(SMALL)


@pytest.fixture()
def client(pipe):
    with TestClient(create_app(pipe, threads=1)) as c:
        yield c


def decode(data: bytes, suffix: str, tmp_path) -> tuple[np.ndarray, float]:
    path = tmp_path / f"out{suffix}"
    path.write_bytes(data)
    return read_video(path)


def test_generate_returns_the_pipelines_video(client, pipe, tmp_path):
    r = client.post("/generate", json={"prompt": "a red ball bounces", "seconds": 1.0, "seed": 3, "width": 48,
                                       "height": 32})
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    frames, fps = decode(r.content, ".mp4", tmp_path)
    expected = pipe("a red ball bounces", seconds=1.0, seed=3, width=48, height=32)
    assert frames.shape == expected.frames.shape == (17, 32, 48, 3) and fps == 16
    expected.save(tmp_path / "direct.mp4")  # the same frames through the same encoder
    assert r.content == (tmp_path / "direct.mp4").read_bytes()
    still = client.post("/generate", json={"prompt": "a red ball", "format": "png", "seed": 3})
    assert still.headers["content-type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(still.content)).size == (32, 32)


def test_jobs_report_progress_and_keep_the_video(client):
    r = client.post("/jobs", json={"prompt": "a blue box slides left", "seed": 1})
    assert r.status_code == 202
    job = r.json()
    app_server = client.app.state.server
    assert app_server.jobs[job["id"]].done.wait(60)
    status = client.get(f"/jobs/{job['id']}").json()
    assert status["status"] == "done" and status["step"] == status["total"] == 2
    assert (status["frames"], status["width"], status["height"], status["fps"]) == (9, 32, 32, 16)
    video = client.get(f"/jobs/{job['id']}/video")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert client.get("/jobs/nope").status_code == 404
    health = client.get("/health").json()
    assert health["sizes"] == ["32x32", "48x32", "32x48"] and health["threads"] == 1


def test_bad_requests_get_the_pipelines_message(client):
    r = client.post("/generate", json={"prompt": "   "})
    assert r.status_code == 422 and "prompt is empty" in r.json()["detail"]
    r = client.post("/generate", json={"prompt": "a ball", "width": 64, "height": 64})
    assert r.status_code == 422 and "32x32, 48x32, 32x48" in r.json()["detail"]
    r = client.post("/generate", json={"prompt": "a ball", "seconds": 61})
    assert r.status_code == 422 and "seconds must be in" in r.json()["detail"]
    r = client.post("/generate", json={"prompt": "a ball", "secnods": 1})  # a misspelt field
    assert r.status_code == 422 and "secnods" in r.text
    r = client.post("/generate", json={"prompt": "a ball", "format": "avi"})
    assert r.status_code == 422
    failed = client.post("/jobs", json={"prompt": ""}).json()
    client.app.state.server.jobs[failed["id"]].done.wait(60)
    assert client.get(f"/jobs/{failed['id']}").json()["status"] == "error"
    assert client.get(f"/jobs/{failed['id']}/video").status_code == 422


def test_queue_is_bounded_and_queued_jobs_cancel(pipe):
    gate = threading.Event()
    real_call = type(pipe).__call__

    class Held(type(pipe)):
        def __call__(self, *a, **k):  # the first job holds the worker until the test lets it go
            gate.wait(60)
            return real_call(self, *a, **k)

    held = tiny_pipeline(SMALL)
    held.__class__ = Held
    with TestClient(create_app(held, threads=1, max_queue=2)) as c:
        first = c.post("/jobs", json={"prompt": "a ball"}).json()
        second = c.post("/jobs", json={"prompt": "a box"}).json()
        r = c.post("/jobs", json={"prompt": "a triangle"})
        assert r.status_code == 429 and "retry" in r.json()["detail"]
        assert c.delete(f"/jobs/{second['id']}").json()["status"] == "cancelled"
        assert c.delete(f"/jobs/{second['id']}").status_code == 409
        gate.set()
        server = c.app.state.server
        assert server.jobs[first["id"]].done.wait(60)
        assert c.get(f"/jobs/{second['id']}").json()["status"] == "cancelled"
        assert c.get(f"/jobs/{first['id']}").json()["status"] == "done"


def test_the_page_and_the_cli(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text and "/jobs" in page.text
    from kinema.cli import build_parser

    with pytest.raises(ValueError, match="max_queue"):
        create_app(client.app.state.server.pipe, max_queue=0)
    args = build_parser().parse_args(["serve", "--port", "8123", "--threads", "1", "--sampler", "dpm++"])
    assert (args.port, args.threads, args.sampler, args.host) == (8123, 1, "dpm++", "127.0.0.1")
