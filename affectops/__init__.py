"""affectops: train, version, deploy and watch facial-expression models on Kubernetes."""

from importlib.metadata import version

__version__ = version("affectops")
