"""dropsafe's command line and GitHub App (the engine is the `rules` package)."""

from importlib import metadata


def version() -> str:
    """The installed distribution's version (`dropsafe --version`, SARIF's driver)."""
    try:
        return metadata.version("dropsafe")
    except metadata.PackageNotFoundError:
        return "0+unknown"
