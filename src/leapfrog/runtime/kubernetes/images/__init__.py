"""leapfrog's own container image and the stack's service images: the recipe (a Debian
base from mmdebstrap, leapfrog's venv from uv.lock), the builders (buildah, podman,
docker), the cache by key and the record `render` reads (docs/images.md)."""

from leapfrog.runtime.kubernetes.images._build import (
    ImageResult,
    build_leapfrog_image,
    build_service_images,
)
from leapfrog.runtime.kubernetes.images._builders import Builder, find_builder
from leapfrog.runtime.kubernetes.images._record import LeapfrogImage, leapfrog_image

__all__ = [
    "Builder",
    "ImageResult",
    "LeapfrogImage",
    "build_leapfrog_image",
    "build_service_images",
    "find_builder",
    "leapfrog_image",
]
