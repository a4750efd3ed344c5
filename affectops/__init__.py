"""affectops: train, version, deploy and watch facial-expression models on Kubernetes."""

from importlib.metadata import version

__version__ = version("affectops")


def default_family() -> str:
    """The headline family (``models.DEFAULT_FAMILY``): the CLI's default, imported only when a command
    needs it (models takes seconds to import)."""
    from models import DEFAULT_FAMILY

    return DEFAULT_FAMILY
