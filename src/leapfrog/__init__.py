"""leapfrog: a Python platform kit. One stack file runs the whole platform."""

__version__ = "0.1.0"
__all__ = ["__version__"]
