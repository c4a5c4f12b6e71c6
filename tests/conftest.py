"""Test-session settings.

One OpenMP thread per process: the tests are many tiny ops, where thread hand-offs cost more
than they gain, and several tests start worker processes that would otherwise oversubscribe
a 2-core machine (measured here: the suite runs several times faster).

Prompt encodings go to a cache folder of this session's own (the pipeline keeps them on disk),
never the user's, and the folder is removed at exit.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
_CACHE = tempfile.mkdtemp(prefix="kinema-test-cache-")
os.environ["KINEMA_CACHE_DIR"] = _CACHE  # inherited by the subprocesses the tests start
atexit.register(shutil.rmtree, _CACHE, True)


def tiny_pipeline(config, text_encoder=None):
    """A randomly initialised KinemaPipeline (tiny VAE, 1-block DiT of width 32) that generates
    32x32 clips in a fraction of a second; seeded, so every test that builds one gets the same."""
    import torch

    from kinema.models.dit import DiT, DiTConfig
    from kinema.models.text import NullText, TextEncoder
    from kinema.models.vae import VAE_TINY, VideoVAE
    from kinema.pipeline import KinemaPipeline

    text_encoder = text_encoder or TextEncoder()
    torch.manual_seed(0)
    vae = VideoVAE(VAE_TINY)
    dit = DiT(DiTConfig(in_channels=VAE_TINY.latent_channels, hidden_size=32, depth=1, num_heads=2,
                        text_dim=text_encoder.dim))
    for p in dit.final.parameters():  # adaLN-Zero starts at v = 0; make the output depend on the input
        torch.nn.init.normal_(p, std=0.05)
    return KinemaPipeline(vae, dit, text_encoder, NullText(text_encoder.dim), config)
