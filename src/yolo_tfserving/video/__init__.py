"""Video files, webcams and streams through the client: ``detect_video`` (needs the ``video`` extra: PyAV).

Importing this package is light; PyAV is imported when a source is opened.
"""

from .pipeline import FRAME_FORMATS, Detector, VideoOutputs, VideoSummary, check_options, detect_video
from .sources import VIDEO_SUFFIXES, Frame, VideoSource, is_stream, is_video_source, split_sources
from .writers import FrameResult, pick_encoder

__all__ = [
    "FRAME_FORMATS",
    "VIDEO_SUFFIXES",
    "Detector",
    "Frame",
    "FrameResult",
    "VideoOutputs",
    "VideoSource",
    "VideoSummary",
    "check_options",
    "detect_video",
    "is_stream",
    "is_video_source",
    "pick_encoder",
    "split_sources",
]
