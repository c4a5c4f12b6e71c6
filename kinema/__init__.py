"""Kinema: text-to-video generation and world simulation in the spirit of Sora."""

__version__ = "0.1.0"
__all__ = ["KinemaPipeline", "Video"]


def __getattr__(name):
    # Lazy: `kinema world render` and `kinema --help` should not pay for importing torch.
    if name == "KinemaPipeline":
        from kinema.pipeline import KinemaPipeline
        return KinemaPipeline
    if name == "Video":
        from kinema.video import Video
        return Video
    raise AttributeError(f"module 'kinema' has no attribute {name!r}")
