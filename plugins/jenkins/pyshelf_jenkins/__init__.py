"""pyshelf-jenkins: trigger a Jenkins job after each release upload, in the background."""

__version__ = "0.1.0"
