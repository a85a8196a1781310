"""The feature levels a detector puts its anchors on, from any zoo backbone's ``features_only`` taps.

``pyramid_levels`` returns one ``width``-channel feature map per requested stride. Strides the backbone taps
directly come from its taps; deeper ones are made by stride-2 3x3 convolutions from the level above (RetinaNet's
P6/P7). With ``top_down`` the maps form a feature pyramid (Lin et al., 2017, "Feature pyramid networks"): each level
adds the upsampled coarser level to a 1x1 projection of its own features, then a 3x3 convolution smooths the sum.
"""

from __future__ import annotations

from keras import layers

__all__ = ["pyramid_levels"]


def pyramid_levels(backbone: str, x, strides, *, width: int, top_down: bool, backbone_kwargs=None) -> dict:
    """{stride: [B, H / stride, W / stride, width]} for each of ``strides`` (increasing powers of two).

    The backbone is nested by ``kerazoo.vision.backbone.backbone_features`` (so transfer learning works as for
    every head).

    Raises:
        ValueError: strides not increasing powers of two, a stride finer than the backbone's deepest tap that the
            backbone does not tap, or an input smaller than the largest stride.
    """
    from kerazoo.applications import get_entry
    from kerazoo.vision.backbone import backbone_features

    strides = [int(s) for s in strides]
    if not strides or strides != sorted(set(strides)) or any(s < 1 or s & (s - 1) for s in strides):
        raise ValueError(f"Invalid anchor_levels: expected increasing powers of two. Received: anchor_levels={strides}")
    height, width_px = x.shape[1], x.shape[2]
    if height is None or width_px is None:
        raise ValueError(f"Invalid input_shape: detectors need a fixed image size (their anchors depend on it). "
                         f"Received: {tuple(x.shape[1:])}; set model.input_size (e.g. [240, 320]).")
    if min(height, width_px) < strides[-1]:
        raise ValueError(
            f"Invalid input_shape: the image ({height}x{width_px}) is smaller than the largest stride "
            f"({strides[-1]}) of anchor_levels={strides}; use larger images or shallower anchor_levels."
        )
    tapped = sorted(t.reduction for t in get_entry(backbone).feature_taps)
    deepest = tapped[-1] if tapped else 0
    missing = [s for s in strides if s not in tapped and s < deepest]
    if missing or not tapped:
        raise ValueError(
            f"Invalid backbone: {backbone!r} has no feature level at stride {missing[0] if missing else strides[0]} "
            f"(its taps are at strides {tapped or 'none'}); choose anchor_levels among those strides or deeper than "
            f"{deepest} (deeper levels are added by stride-2 convolutions)."
        )
    finest = min([s for s in strides if s in tapped] or [deepest])
    top = min(strides[-1], deepest)  # the backbone is cut here: deeper strides come from the extra convolutions
    maps, info = backbone_features(x, backbone, levels=sum(finest <= r <= top for r in tapped),
                                   backbone_kwargs=backbone_kwargs, max_reduction=top)
    maps = {i["reduction"]: m for i, m in zip(info, maps)}

    stride, source = top, maps[top]
    while stride < strides[-1]:
        stride *= 2
        source = layers.Conv2D(width, 3, strides=2, padding="same", name=f"extra_s{stride}_conv")(
            layers.ReLU(name=f"extra_s{stride}_relu")(source) if stride > 2 * deepest else source
        )
        maps[stride] = source

    lateral = {s: layers.Conv2D(width, 1, name=f"lateral_s{s}")(maps[s]) for s in strides}
    if not top_down:
        return lateral
    levels, above = {}, None
    for s in reversed(strides):
        merged = lateral[s]
        if above is not None:
            rows, cols = merged.shape[1], merged.shape[2]
            up = layers.Resizing(rows, cols, interpolation="nearest", name=f"topdown_s{s}_upsample")(above)
            merged = layers.Add(name=f"topdown_s{s}_add")([merged, up])
        above = merged
        levels[s] = layers.Conv2D(width, 3, padding="same", name=f"pyramid_s{s}")(merged)
    return {s: levels[s] for s in strides}
