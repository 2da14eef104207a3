"""mamori (守り): self-hosted container security platform."""

__version__ = "0.1.0"
