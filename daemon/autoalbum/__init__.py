"""autoalbum: turns folders of photos into auto-sorted albums."""

__version__ = "0.1.0"
