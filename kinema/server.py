"""The HTTP server and its web page: `kinema serve`, a thin adapter over `KinemaPipeline.__call__`.

    GET  /                  a page to type a prompt, watch the progress and play the result
    POST /generate          JSON request -> the video's bytes (mp4, gif or png), when done
    POST /jobs              JSON request -> 202 {"id", "status"}; the video is made in the background
    GET  /jobs/{id}         {"status": queued | running | done | error | cancelled, "step", "total",
                            "error", "seconds", "frames", "width", "height", "fps", "wall_s"}
    GET  /jobs/{id}/video   the finished video's bytes (409 until it is done, 422 if it failed)
    DELETE /jobs/{id}       cancel a queued job
    GET  /health            the model, its sizes and defaults, the queue and the thread count

A request holds the pipeline's arguments: {"prompt", "negative_prompt", "seconds", "fps",
"width", "height", "steps", "guidance", "seed", "format"}; every one but the prompt defaults to
the model's. The pipeline checks them and its message comes back as a 422 (an empty prompt, a
size the model does not support, seconds outside (0, 60], ...).

One worker thread runs the jobs in order: one model, one video at a time, so a request never
slows another down by sharing the cores. Its torch thread count is set once, at start
(`threads`): on a machine that also does other work, give the server fewer threads than cores
(two busy processes with two OpenMP threads each on 2 cores run several times slower than
one). The queue holds at most `max_queue` jobs (more: 429), and the last `keep` finished jobs
keep their videos in memory.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from kinema.pipeline import KinemaPipeline

MEDIA_TYPES = {"mp4": "video/mp4", "gif": "image/gif", "png": "image/png"}


class GenerateRequest(BaseModel):
    """What to generate; None leaves a setting at the model's default."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    prompt: str
    negative_prompt: str | None = None
    seconds: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    format: Literal["mp4", "gif", "png"] = "mp4"  # png: a still (the first frame)


@dataclass
class Job:
    id: str
    request: GenerateRequest
    status: str = "queued"
    step: int = 0
    total: int = 0
    error: str | None = None
    data: bytes | None = None
    info: dict = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict:
        return {"id": self.id, "status": self.status, "step": self.step, "total": self.total, "error": self.error,
                **self.info}


class Server:
    """The job queue in front of one pipeline: `submit` queues, one worker thread generates."""

    def __init__(self, pipe: KinemaPipeline, *, threads: int | None = None, max_queue: int = 16, keep: int = 32):
        if max_queue < 1 or keep < 1 or (threads is not None and threads < 0):
            raise ValueError(f"max_queue and keep must be >= 1 and threads >= 0 (0: torch's default); got "
                             f"max_queue={max_queue}, keep={keep}, threads={threads}")
        self.pipe, self.max_queue, self.keep = pipe, max_queue, keep
        self.threads = threads or torch.get_num_threads()
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="kinema-worker",
                                         initializer=torch.set_num_threads, initargs=(self.threads,))

    def waiting(self) -> int:
        """Jobs queued or being made."""
        return sum(j.status in ("queued", "running") for j in self.jobs.values())

    def submit(self, request: GenerateRequest) -> Job:
        with self.lock:
            waiting = self.waiting()
            if waiting >= self.max_queue:
                raise HTTPException(429, f"{waiting} videos are queued or being made; retry when one is done")
            job = Job(uuid.uuid4().hex[:12], request)
            self.jobs[job.id] = job
            self._forget_old()
        self.worker.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}; it never existed or its video was dropped (the server keeps "
                                     f"the last {self.keep})")
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self.lock:
            if job.status != "queued":
                raise HTTPException(409, f"job {job_id} is {job.status}; only a queued job can be cancelled")
            job.status = "cancelled"
            job.done.set()
        return job

    def _forget_old(self) -> None:
        finished = [k for k, j in self.jobs.items() if j.status in ("done", "error", "cancelled")]
        for k in finished[: max(0, len(finished) - self.keep)]:
            del self.jobs[k]

    def _run(self, job: Job) -> None:
        with self.lock:
            if job.status == "cancelled":
                return
            job.status = "running"
        r = job.request
        start = time.perf_counter()

        def progress(step: int, total: int) -> None:
            job.step, job.total = step, total

        try:
            kwargs = dict(negative_prompt=r.negative_prompt, fps=r.fps, width=r.width, height=r.height,
                          num_inference_steps=r.steps, guidance_scale=r.guidance, seed=r.seed, callback=progress)
            if r.format == "png":
                kwargs["num_frames"] = 1
            else:
                kwargs["seconds"] = r.seconds
            video = self.pipe(r.prompt, **{k: v for k, v in kwargs.items() if v is not None})
            with tempfile.TemporaryDirectory(prefix="kinema-serve-") as tmp:
                job.data = video.save(Path(tmp) / f"video.{r.format}").read_bytes()
            job.info = {"frames": video.num_frames, "width": video.width, "height": video.height,
                        "fps": video.fps, "seconds": video.seconds, "wall_s": round(time.perf_counter() - start, 3)}
            job.status = "done"
        except (ValueError, TypeError) as e:  # the pipeline's checks: the request's fault
            job.error, job.status = str(e), "error"
        except Exception as e:  # noqa: BLE001 -- a job must fail alone, never the server
            job.error, job.status = f"generation failed: {type(e).__name__}: {e}", "error"
        finally:
            job.done.set()

    def video_response(self, job: Job) -> Response:
        if job.status == "error":
            raise HTTPException(422, job.error)
        if job.status != "done":
            raise HTTPException(409, f"job {job.id} is {job.status}; its video is not ready")
        return Response(job.data, media_type=MEDIA_TYPES[job.request.format],
                        headers={"Content-Disposition": f'inline; filename="kinema-{job.id}.{job.request.format}"'})


def create_app(pipe: KinemaPipeline, *, threads: int | None = None, max_queue: int = 16, keep: int = 32) -> FastAPI:
    """The FastAPI app serving `pipe` (see the module's docstring)."""
    server = Server(pipe, threads=threads, max_queue=max_queue, keep=keep)
    app = FastAPI(title="Kinema", description="text to video with a Kinema model")
    app.state.server = server

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/health")
    def health() -> dict:
        cfg = pipe.config
        return {"status": "ok", "threads": server.threads,
                "queued": server.waiting(),
                "sizes": [f"{w}x{h}" for w, h in cfg.buckets],
                "defaults": {"seconds": cfg.seconds, "fps": cfg.fps, "width": cfg.width, "height": cfg.height,
                             "steps": cfg.num_inference_steps, "guidance": cfg.guidance_scale},
                "max_seconds": cfg.max_seconds}

    @app.post("/jobs", status_code=202)
    def submit(request: GenerateRequest) -> dict:
        return server.submit(request).public()

    @app.get("/jobs/{job_id}")
    def status(job_id: str) -> dict:
        return server.get(job_id).public()

    @app.get("/jobs/{job_id}/video")
    def video(job_id: str) -> Response:
        return server.video_response(server.get(job_id))

    @app.delete("/jobs/{job_id}")
    def cancel(job_id: str) -> dict:
        return server.cancel(job_id).public()

    @app.post("/generate")
    def generate(request: GenerateRequest) -> Response:
        job = server.submit(request)
        job.done.wait()  # FastAPI runs a plain `def` endpoint in its thread pool: the event loop stays free
        return server.video_response(job)

    return app


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kinema</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 15px system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 textarea { width: 100%; font: inherit; } label { margin-right: 1rem; } input { width: 5rem; }
 progress { width: 100%; } #error { color: #b00; white-space: pre-wrap; } video, img { max-width: 100%; image-rendering: pixelated; }
</style></head>
<body>
<h1>Kinema</h1>
<form id="form">
 <textarea id="prompt" rows="3" required>a red ball bounces on the floor</textarea>
 <p><label>seconds <input id="seconds" type="number" step="0.5" min="0.5" max="60"></label>
 <label>size <select id="size"></select></label>
 <label>seed <input id="seed" type="number" min="0"></label>
 <label>steps <input id="steps" type="number" min="1"></label>
 <label>guidance <input id="guidance" type="number" step="0.5" min="0"></label></p>
 <p><button id="go">Generate</button></p>
</form>
<progress id="bar" value="0" max="1" hidden></progress>
<p id="status"></p><p id="error"></p>
<div id="out"></div>
<script>
const $ = (id) => document.getElementById(id);
fetch("/health").then((r) => r.json()).then((h) => {
  for (const s of h.sizes) $("size").add(new Option(s, s, false, s === `${h.defaults.width}x${h.defaults.height}`));
  $("seconds").value = h.defaults.seconds; $("steps").value = h.defaults.steps; $("guidance").value = h.defaults.guidance;
  $("seconds").max = h.max_seconds; $("seed").value = Math.floor(Math.random() * 100000);
});
$("form").onsubmit = async (e) => {
  e.preventDefault(); $("error").textContent = ""; $("go").disabled = true;
  const [width, height] = $("size").value.split("x").map(Number);
  const body = {prompt: $("prompt").value, seconds: +$("seconds").value, width, height,
                seed: +$("seed").value, steps: +$("steps").value, guidance: +$("guidance").value};
  try {
    const r = await fetch("/jobs", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
    let job = await r.json();
    if (!r.ok) throw new Error(typeof job.detail === "string" ? job.detail : JSON.stringify(job.detail));
    $("bar").hidden = false;
    while (job.status === "queued" || job.status === "running") {
      await new Promise((ok) => setTimeout(ok, 400));
      job = await (await fetch(`/jobs/${job.id}`)).json();
      $("bar").max = job.total || 1; $("bar").value = job.step;
      $("status").textContent = job.status === "queued" ? "waiting for the model" : `step ${job.step} of ${job.total}`;
    }
    if (job.status !== "done") throw new Error(job.error || job.status);
    $("status").textContent = `${job.frames} frames, ${job.width}x${job.height}, ${job.seconds.toFixed(2)} s at ${job.fps} fps, made in ${job.wall_s.toFixed(1)} s`;
    $("out").innerHTML = `<video src="/jobs/${job.id}/video" autoplay loop controls muted width="${job.width * 3}"></video>
      <p><a href="/jobs/${job.id}/video" download="kinema-${job.id}.mp4">download the mp4</a></p>`;
  } catch (err) { $("error").textContent = err.message; $("status").textContent = ""; }
  finally { $("go").disabled = false; $("bar").hidden = true; }
};
</script>
</body></html>
"""
