"""YOLOv5 architectures as ``yaml.safe_load`` gives them (strings stay strings: "None", "nc").

Written from the facts of YOLOv5's models/*.yaml and models/hub/*.yaml (v5.0 and v7.0):
the same rows, modules and arguments. Tests build tiny random-weight models from them
(``width_multiple`` 0.125, ``depth_multiple`` 0.33).
"""

from __future__ import annotations

from typing import Any

ANCHORS_P5 = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
ANCHORS_P6 = [[19, 27, 44, 40, 38, 94], [96, 68, 86, 152, 180, 137], [140, 301, 303, 264, 238, 542]]
ANCHORS_P6 = [*ANCHORS_P6, [436, 615, 739, 380, 925, 792]]
UP = [-1, 1, "nn.Upsample", ["None", 2, "nearest"]]
DETECT_P3_P5 = [[17, 20, 23], 1, "Detect", ["nc", "anchors"]]


def _cfg(anchors: Any, backbone: list[Any], head: list[Any], **extra: Any) -> dict[str, Any]:
    return {"nc": 80, "depth_multiple": 0.33, "width_multiple": 0.50, "anchors": anchors, **extra} | {
        "backbone": backbone,
        "head": head,
    }


def _pan_head(conv: str = "Conv", c3: str = "C3", p4_inputs: list[int] | None = None) -> list[Any]:
    """The v5.0-v7.0 PANet head over backbone rows 4 (P3), 6 (P4) and 10 (P5 lateral)."""
    return [
        [-1, 1, conv, [512, 1, 1]],
        UP,
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, c3, [512, False]],  # 13
        [-1, 1, conv, [256, 1, 1]],
        UP,
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, c3, [256, False]],  # 17 (P3/8)
        [-1, 1, conv, [256, 3, 2]],
        [p4_inputs or [-1, 14], 1, "Concat", [1]],
        [-1, 3, c3, [512, False]],  # 20 (P4/16)
        [-1, 1, conv, [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 3, c3, [1024, False]],  # 23 (P5/32)
        DETECT_P3_P5,
    ]


def _v6_backbone(conv: str = "Conv", c3: str = "C3", p5: str = "C3") -> list[Any]:
    return [
        [-1, 1, "Conv", [64, 6, 2, 2]],  # 0-P1/2
        [-1, 1, conv, [128, 3, 2]],
        [-1, 3, c3, [128]],
        [-1, 1, conv, [256, 3, 2]],  # 3-P3/8
        [-1, 6, c3, [256]],
        [-1, 1, conv, [512, 3, 2]],  # 5-P4/16
        [-1, 9, c3, [512]],
        [-1, 1, conv, [1024, 3, 2]],  # 7-P5/32
        [-1, 3, p5, [1024]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ]


# v5.0 models/yolov5s.yaml: Focus stem, SPP(5, 9, 13), C3 after it.
V5_YOLOV5S = _cfg(
    ANCHORS_P5,
    [
        [-1, 1, "Focus", [64, 3]],
        [-1, 1, "Conv", [128, 3, 2]],
        [-1, 3, "C3", [128]],
        [-1, 1, "Conv", [256, 3, 2]],
        [-1, 9, "C3", [256]],
        [-1, 1, "Conv", [512, 3, 2]],
        [-1, 9, "C3", [512]],
        [-1, 1, "Conv", [1024, 3, 2]],
        [-1, 1, "SPP", [1024, [5, 9, 13]]],
        [-1, 3, "C3", [1024, False]],  # 9
    ],
    _pan_head(),
)

# v6.0 / v7.0 models/yolov5s.yaml.
YOLOV5S = _cfg(ANCHORS_P5, _v6_backbone(), _pan_head())


def _p6_head(detect: list[Any]) -> list[Any]:
    return [
        [-1, 1, "Conv", [768, 1, 1]],
        UP,
        [[-1, 8], 1, "Concat", [1]],
        [-1, 3, "C3", [768, False]],  # 15
        [-1, 1, "Conv", [512, 1, 1]],
        UP,
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 19
        [-1, 1, "Conv", [256, 1, 1]],
        UP,
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C3", [256, False]],  # 23 (P3/8)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 20], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 26 (P4/16)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 16], 1, "Concat", [1]],
        [-1, 3, "C3", [768, False]],  # 29 (P5/32)
        [-1, 1, "Conv", [768, 3, 2]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 3, "C3", [1024, False]],  # 32 (P6/64)
        detect,
    ]


def _p6_stem(p3_depth: int) -> list[Any]:
    """Rows 1-9 of the P6 backbones; v6.0 cut the P3 C3 from 9 to 6 bottlenecks (as in every model)."""
    return [
        [-1, 1, "Conv", [128, 3, 2]],
        [-1, 3, "C3", [128]],
        [-1, 1, "Conv", [256, 3, 2]],
        [-1, p3_depth, "C3", [256]],
        [-1, 1, "Conv", [512, 3, 2]],
        [-1, 9, "C3", [512]],
        [-1, 1, "Conv", [768, 3, 2]],
        [-1, 3, "C3", [768]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 9-P6/64
    ]


# v5.0 models/hub/yolov5s6.yaml: Focus, SPP(3, 5, 7) at P6.
V5_YOLOV5S6 = _cfg(
    ANCHORS_P6,
    [[-1, 1, "Focus", [64, 3]], *_p6_stem(9), [-1, 1, "SPP", [1024, [3, 5, 7]]], [-1, 3, "C3", [1024, False]]],
    _p6_head([[23, 26, 29, 32], 1, "Detect", ["nc", "anchors"]]),
)
# v6.0 / v7.0 models/hub/yolov5s6.yaml: SPPF at the end of the backbone.
YOLOV5S6 = _cfg(
    ANCHORS_P6,
    [[-1, 1, "Conv", [64, 6, 2, 2]], *_p6_stem(6), [-1, 3, "C3", [1024]], [-1, 1, "SPPF", [1024, 5]]],
    _p6_head([[23, 26, 29, 32], 1, "Detect", ["nc", "anchors"]]),
)

# models/hub/yolov5-p2.yaml: an extra P2/4 output, AutoAnchor's integer anchors.
YOLOV5_P2 = _cfg(
    3,
    _v6_backbone(),
    [
        *_pan_head()[:8],
        [-1, 1, "Conv", [128, 1, 1]],
        UP,
        [[-1, 2], 1, "Concat", [1]],
        [-1, 1, "C3", [128, False]],  # 21 (P2/4)
        [-1, 1, "Conv", [128, 3, 2]],
        [[-1, 18], 1, "Concat", [1]],
        [-1, 3, "C3", [256, False]],  # 24 (P3/8)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 14], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 27 (P4/16)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 3, "C3", [1024, False]],  # 30 (P5/32)
        [[21, 24, 27, 30], 1, "Detect", ["nc", "anchors"]],
    ],
)


def _down_up(c: int, lateral: int) -> list[Any]:
    return [[-1, 1, "Conv", [c, 1, 1]], UP, [[-1, lateral], 1, "Concat", [1]], [-1, 3, "C3", [c, False]]]


# models/hub/yolov5-p7.yaml: P3-P7 outputs (stride 128), integer anchors.
YOLOV5_P7 = _cfg(
    3,
    [
        *_v6_backbone()[:7],
        [-1, 1, "Conv", [768, 3, 2]],  # 7-P5/32
        [-1, 3, "C3", [768]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 9-P6/64
        [-1, 3, "C3", [1024]],
        [-1, 1, "Conv", [1280, 3, 2]],  # 11-P7/128
        [-1, 3, "C3", [1280]],
        [-1, 1, "SPPF", [1280, 5]],  # 13
    ],
    [
        *_down_up(1024, 10),  # 17
        *_down_up(768, 8),  # 21
        *_down_up(512, 6),  # 25
        *_down_up(256, 4),  # 29 (P3/8)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 26], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 32 (P4/16)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 22], 1, "Concat", [1]],
        [-1, 3, "C3", [768, False]],  # 35 (P5/32)
        [-1, 1, "Conv", [768, 3, 2]],
        [[-1, 18], 1, "Concat", [1]],
        [-1, 3, "C3", [1024, False]],  # 38 (P6/64)
        [-1, 1, "Conv", [1024, 3, 2]],
        [[-1, 14], 1, "Concat", [1]],
        [-1, 3, "C3", [1280, False]],  # 41 (P7/128)
        [[29, 32, 35, 38, 41], 1, "Detect", ["nc", "anchors"]],
    ],
)

# models/hub/yolov5s-ghost.yaml: GhostConv and C3Ghost throughout.
YOLOV5S_GHOST = _cfg(ANCHORS_P5, _v6_backbone("GhostConv", "C3Ghost", "C3Ghost"), _pan_head("GhostConv", "C3Ghost"))
# models/hub/yolov5s-transformer.yaml: C3TR at P5.
YOLOV5S_TRANSFORMER = _cfg(ANCHORS_P5, _v6_backbone(p5="C3TR"), _pan_head())
# models/hub/yolov5-bifpn.yaml: the P4 output also takes backbone P4 (a 3-input Concat).
YOLOV5_BIFPN = _cfg(ANCHORS_P5, _v6_backbone(), _pan_head(p4_inputs=[-1, 14, 6]))
# models/hub/yolov5-fpn.yaml: top-down only.
YOLOV5_FPN = _cfg(
    ANCHORS_P5,
    _v6_backbone(),
    [
        [-1, 3, "C3", [1024, False]],  # 10 (P5/32)
        UP,
        [[-1, 6], 1, "Concat", [1]],
        [-1, 1, "Conv", [512, 1, 1]],
        [-1, 3, "C3", [512, False]],  # 14 (P4/16)
        UP,
        [[-1, 4], 1, "Concat", [1]],
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 3, "C3", [256, False]],  # 18 (P3/8)
        [[18, 14, 10], 1, "Detect", ["nc", "anchors"]],
    ],
)
# models/hub/yolov5s-LeakyReLU.yaml: every Conv's default activation replaced.
YOLOV5S_LEAKYRELU = _cfg(ANCHORS_P5, _v6_backbone(), _pan_head(), activation="nn.LeakyReLU(0.1)")

# Not a hub model: every other layer a detection checkpoint can hold, in one small graph
# (P3-P5 at strides 8, 16, 32).
EVERY_OTHER_LAYER = _cfg(
    ANCHORS_P5,
    [
        [-1, 1, "Conv", [64, 6, 2, 2]],  # 0-P1/2
        [-1, 1, "DWConv", [128, 3, 2]],  # 1-P2/4
        [-1, 1, "BottleneckCSP", [128]],
        [-1, 1, "CrossConv", [128, 3, 1]],
        [-1, 1, "MixConv2d", [128, [1, 3]]],
        [-1, 1, "Contract", [2]],  # 5-P3/8 (512 channels)
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 1, "C3x", [256]],  # 7
        [-1, 1, "GhostBottleneck", [512, 3, 2]],  # 8-P4/16
        [-1, 1, "C3SPP", [512, [5, 9, 13]]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 10-P5/32
        [-1, 1, "nn.BatchNorm2d", []],
        [-1, 1, "Bottleneck", [1024]],  # 12
    ],
    [
        [-1, 1, "DWConvTranspose2d", [1024, 2, 2, 0, 0]],  # 13: back to P4
        [-1, 1, "Conv", [512, 1, 1]],
        [[-1, 9], 1, "Sum", [2, True]],  # 15 (P4)
        [-1, 1, "nn.ConvTranspose2d", [256, 2, 2]],  # 16: P3
        [[-1, 7], 1, "Sum", [2]],
        [-1, 1, "Conv", [1024, 1, 1]],
        [-1, 1, "Expand", [2]],  # 19: P2, 256 channels
        [-1, 1, "Conv", [256, 3, 2]],  # 20 (P3)
        [[20, 15, 12], 1, "Detect", ["nc", "anchors"]],
    ],
)

# Not a hub model: v5.0's experimental layers (pickled as models.experimental.* at v5.0) and
# its transformer, with a minimal head.
V5_EXPERIMENTAL = _cfg(
    ANCHORS_P5,
    [
        [-1, 1, "Focus", [64, 3]],  # 0-P1/2
        [-1, 1, "GhostConv", [128, 3, 2]],  # 1-P2/4
        [-1, 1, "GhostBottleneck", [128, 3, 1]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 1, "CrossConv", [256, 3, 1, 1, 1.0, True]],
        [-1, 1, "C3", [256]],  # 5
        [-1, 1, "GhostConv", [512, 3, 2]],  # 6-P4/16
        [-1, 1, "C3TR", [512]],  # 7
        [-1, 1, "Conv", [1024, 3, 2]],  # 8-P5/32
        [-1, 1, "SPP", [1024, [5, 9, 13]]],
    ],
    [[-1, 1, "C3", [1024, False]], [[5, 7, 10], 1, "Detect", ["nc", "anchors"]]],
)
