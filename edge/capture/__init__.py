"""The station's eyes: frames from a camera or files, QR/NW-7/OCR decoding, and the consensus that turns
per-frame reads into at most one accepted voucher.

Exceptions::

    CaptureError                  anything this package raises
     +-- SourceError              a frame source cannot be opened or read
     +-- DecoderUnavailableError  a decoder's library or language data is missing
     +-- FontMissingError         the synthetic frame generator cannot find a Debian font

Refusing a voucher is not an exception: the consensus returns a `Decision` that says why.
"""


class CaptureError(Exception):
    """Base of every error raised by edge.capture."""


class SourceError(CaptureError):
    """A frame source cannot be opened or read (missing file, not an image, camera unavailable)."""


class DecoderUnavailableError(CaptureError):
    """A decoder's library or language data (zxing-cpp, libzbar0, tessdata) is missing or unknown."""


class FontMissingError(CaptureError):
    """The synthetic frame generator cannot find fonts-noto-cjk or fonts-ocr-b."""
