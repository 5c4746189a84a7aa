"""Image patches: the k x k windows a quanvolution or convolution sees, in numpy (no TensorFlow, so that
jobs that only need patches, such as the ansatz metrics, do not pay TensorFlow's start-up)."""

from __future__ import annotations

import numpy as np


def output_size(size: int, kernel_size: int, stride: int) -> int:
    """Patches along one axis ('valid' padding: patches that fit entirely)."""
    if size < kernel_size:
        raise ValueError(f"image side must be >= kernel_size {kernel_size}; got {size}")
    return (size - kernel_size) // stride + 1


def extract_patches(images: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
    """(N, H, W) images -> (N, H', W', k*k) patches, pixels of a patch in row-major order.

    Row-major order makes qubit 0 the top-left pixel, then top-right, bottom-left, bottom-right
    for k = 2, as in docs/design.md.
    """
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W); got {images.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(images, (kernel_size, kernel_size), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]
    return windows.reshape(windows.shape[:3] + (kernel_size**2,))
