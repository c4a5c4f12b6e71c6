"""Kinema: text-to-video generation and world simulation in the spirit of Sora."""

__version__ = "0.1.0"
