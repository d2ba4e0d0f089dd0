"""When, where and with which camera a photo was taken, read from the image Pillow has opened.

`read_capture` reads the EXIF that Pillow parsed with the header (no pixel is decoded), then an
XMP sidecar beside the photo or the XMP packet inside it, then the file's mtime.
`read_capture_file` does the same for a photo already in the library, opening only its header.

Dates come in three strengths, and a weaker one is used only when no stronger one exists:
capture (EXIF DateTimeOriginal, XMP exif:DateTimeOriginal or photoshop:DateCreated), digitizing
(DateTimeDigitized, xmp:CreateDate: the capture for a camera, the scan for a scanned print) and
saving (IFD0 DateTime: when software last wrote the file, the capture itself on many phones).
At each strength EXIF comes before XMP. Even a saving time is closer to the capture than an
mtime, which copying resets. A broken or absurd tag counts as missing, never as an error.
"""

from __future__ import annotations

import enum
import logging
import math
import numbers
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, NamedTuple

from defusedxml.ElementTree import DefusedXMLParser
from PIL import Image, PngImagePlugin

log = logging.getLogger(__name__)

MAX_XMP_BYTES = 16 << 20  # as tags/packet.py: darktable's longest histories are a few hundred KB
MAX_NAME_CHARS = 64  # the longest camera make or model kept
_EPOCH = datetime(1970, 1, 1)  # naive: wall-clock times are counted from it as if UTC
_EARLIEST = 365 * 86400.0  # 1971-01-01: a clock reset to 1970 (or 0) is no date
_FUTURE_SLACK = 86400.0  # a day ahead of now covers every time zone and a fast clock
_MAX_OFFSET = 14 * 60  # minutes: Kiribati's +14:00 is the farthest from UTC


class TimeSource(str, enum.Enum):
    EXIF = "exif"
    XMP = "xmp"  # a sidecar, or the XMP packet inside the photo
    MTIME = "mtime"
    NONE = "none"


@dataclass(frozen=True)
class Capture:
    """When, where and with what a photo was taken, as far as its file says.

    Time is kept as the camera's clock showed it. `local` is that wall-clock reading in seconds
    since 1970-01-01 00:00 as if it were UTC (so `local_datetime` gives back the digits the
    photo carries), and `offset_minutes` is local time minus UTC, or None when the file doesn't
    say. The instant is `utc`; `taken` orders photos: the instant where the offset is known,
    else the wall clock read as UTC, at most 14 hours off. A missing offset can be filled later
    (from the time zone of the GPS position) with `with_offset`, keeping the wall clock.
    An XMP date written in UTC (`Z`) has offset 0. From an mtime, the instant is exact and the
    wall clock is this machine's at that instant.
    """

    local: float | None = None
    offset_minutes: int | None = None
    source: TimeSource = TimeSource.NONE
    latitude: float | None = None  # decimal degrees, north positive
    longitude: float | None = None  # decimal degrees, east positive
    make: str | None = None
    model: str | None = None

    @property
    def utc(self) -> float | None:
        """Seconds since the epoch, where both wall clock and offset are known."""
        if self.local is None or self.offset_minutes is None:
            return None
        return self.local - 60.0 * self.offset_minutes

    @property
    def taken(self) -> float | None:
        """The sort key: `utc` where known, else the wall clock as if it were UTC."""
        utc = self.utc
        return self.local if utc is None else utc

    @property
    def local_datetime(self) -> datetime | None:
        """The wall-clock time the photo carries, naive."""
        if self.local is None:
            return None
        return _EPOCH + timedelta(seconds=self.local)

    @property
    def local_date(self) -> date | None:
        """The day on the photo's own calendar, whatever the offset."""
        when = self.local_datetime
        return None if when is None else when.date()

    def with_offset(self, minutes: int) -> Capture:
        """The same wall clock at `minutes` east of UTC, for filling a missing offset."""
        return replace(self, offset_minutes=minutes)


class _Strength(enum.IntEnum):
    CAPTURED = 0
    DIGITIZED = 1
    SAVED = 2


class _Stamp(NamedTuple):
    local: float
    offset: int | None


# Per strength: the tags of the date and time, its UTC offset and its fraction of a second.
# DateTime is in IFD0, the others in the Exif IFD; their numbers don't collide.
_EXIF_TIMES = {
    _Strength.CAPTURED: (0x9003, 0x9011, 0x9291),
    _Strength.DIGITIZED: (0x9004, 0x9012, 0x9292),
    _Strength.SAVED: (0x0132, 0x9010, 0x9290),
}
_MAKE, _MODEL, _EXIF_IFD, _GPS_IFD = 0x010F, 0x0110, 0x8769, 0x8825
_IFD0_TAGS = (_MAKE, _MODEL, _EXIF_TIMES[_Strength.SAVED][0])
_EXIF_NS = "{http://ns.adobe.com/exif/1.0/}"
_XMP_DATES = {  # within a strength, the first listed wins
    _EXIF_NS + "DateTimeOriginal": _Strength.CAPTURED,
    "{http://ns.adobe.com/photoshop/1.0/}DateCreated": _Strength.CAPTURED,
    "{http://ns.adobe.com/xap/1.0/}CreateDate": _Strength.DIGITIZED,
    _EXIF_NS + "DateTimeDigitized": _Strength.DIGITIZED,
}
# EXIF's "2008:05:30 15:56:01" and ISO 8601's "2008-05-30T15:56:01.25+02:00" (XMP), whose time
# and zone XMP may leave out.
_STAMP = re.compile(
    r"(\d{4})[:-](\d\d)[:-](\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?)?"
    r"(Z|[+-]\d\d?(?::?\d\d)?)?",
    re.ASCII,
)
_OFFSET = re.compile(r"([+-])(\d\d?)(?::?(\d\d))?", re.ASCII)
_DIGITS = re.compile(r"\d{1,9}", re.ASCII)


def _text(value: object, limit: int) -> str | None:
    """`value` as one line of printable text, cut at its first NUL; None when it is empty, no
    text or longer than `limit` characters."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or len(value) > 16 * limit:
        return None
    text = " ".join(value.split("\x00", 1)[0].split())
    if not text.isprintable():
        text = "".join(char for char in text if char.isprintable())
    return text if 0 < len(text) <= limit else None


def _offset(text: str | None) -> int | None:
    """Minutes east of UTC in `+02:00`, `-0530`, `+1` or `Z`; None when absent or absurd."""
    if text == "Z":
        return 0
    found = _OFFSET.fullmatch(text) if text else None
    if found is None:
        return None
    sign, hours, minutes = found.groups()
    total = int(hours) * 60 + int(minutes or 0)
    if int(minutes or 0) >= 60 or total > _MAX_OFFSET:
        return None
    return -total if sign == "-" else total


def _stamp(text: str | None, offset: str | None = None, subsec: str | None = None) -> _Stamp | None:
    """A date and time as EXIF or XMP write it, with the offset and fraction EXIF keeps apart;
    None when unparsable or implausible."""
    found = _STAMP.fullmatch(text) if text else None
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        when = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    fraction = fraction or (subsec if subsec and _DIGITS.fullmatch(subsec) else None)
    local = (when - _EPOCH).total_seconds()
    local += int(fraction) / 10 ** len(fraction) if fraction else 0.0
    return _plausible(_Stamp(local, _offset(zone or offset)))


def _plausible(stamp: _Stamp) -> _Stamp | None:
    """`stamp` unless it lies in 1970 or before, or more than a day ahead of now."""
    instant = stamp.local - 60.0 * (stamp.offset or 0)
    if stamp.local < _EARLIEST or instant > time.time() + _FUTURE_SLACK:
        return None
    return stamp


def _exif_times(fields: dict[int, object]) -> dict[_Strength, _Stamp]:
    times = {}
    for strength, (when, offset, subsec) in _EXIF_TIMES.items():
        text = _text(fields.get(when), 40)
        stamp = _stamp(text, _text(fields.get(offset), 8), _text(fields.get(subsec), 9))
        if stamp is not None:
            times[strength] = stamp
    return times


def _degrees(value: object, ref: object, positive: str, negative: str, limit: float) -> float:
    """Signed decimal degrees from EXIF's degrees, minutes and seconds; NaN when unusable."""
    parts = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(parts) <= 3 or not all(
        isinstance(part, numbers.Real) and not isinstance(part, bool) for part in parts
    ):
        return math.nan
    values = [float(part) for part in parts]
    if not all(0.0 <= number < math.inf for number in values) or max(values[1:], default=0) > 60:
        return math.nan  # a zero denominator reads as NaN, which fails `0 <= number`
    degrees = sum(number / 60**i for i, number in enumerate(values))
    hemisphere = (_text(ref, 8) or "?")[0].upper()
    sign = {positive: 1.0, negative: -1.0}.get(hemisphere, math.nan)
    return sign * degrees if degrees <= limit else math.nan


def _position(gps: dict[int, object]) -> tuple[float, float] | None:
    """(latitude, longitude) from the GPS IFD; None when missing, out of range or (0, 0)."""
    latitude = _degrees(gps.get(2), gps.get(1), "N", "S", 90.0)
    longitude = _degrees(gps.get(4), gps.get(3), "E", "W", 180.0)
    if math.isnan(latitude) or math.isnan(longitude) or latitude == longitude == 0.0:
        return None
    return latitude, longitude


def _read_exif(image: Image.Image, path: Path) -> tuple[dict[int, object], dict[int, object]]:
    """The tags wanted from IFD0 and the Exif IFD together, and those of the GPS IFD; a part
    that can't be read is left out."""
    if isinstance(image, PngImagePlugin.PngImageFile) and "exif" not in image.info:
        return {}, {}  # an eXIf chunk after the pixels is only reached by decoding them
    fields: dict[int, object] = {}
    gps: dict[int, object] = {}
    # Hostile EXIF makes Pillow raise nearly anything (and warn: errors under -W error).
    try:
        exif = image.getexif()
        fields.update((tag, exif.get(tag)) for tag in _IFD0_TAGS)
        for tag, into in ((_EXIF_IFD, fields), (_GPS_IFD, gps)):
            try:
                into.update(exif.get_ifd(tag))
            except Exception as error:
                log.debug("ignoring an unreadable EXIF IFD %#x in %s: %r", tag, path, error)
    except Exception as error:
        log.debug("ignoring unreadable EXIF in %s: %r", path, error)
    return fields, gps


class _Enough(Exception):
    """Raised by the parser target once the strongest date is found: stop reading."""


class _XmpDates:
    """A parser target keeping the first value of each date property, written as attribute or
    element; it builds no tree, so memory stays flat whatever the packet holds."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.inside: str | None = None  # the date property whose text comes next
        self.text = ""

    def _keep(self, name: str, value: str) -> None:
        self.values.setdefault(name, value[:64])
        if name == _EXIF_NS + "DateTimeOriginal" and _stamp(_text(value, 40)) is not None:
            raise _Enough

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        for name, value in attrs.items():
            if name in _XMP_DATES:
                self._keep(name, value)
        self.inside = tag if tag in _XMP_DATES else None
        self.text = ""

    def data(self, text: str) -> None:
        if self.inside is not None and len(self.text) < 64:
            self.text += text[:64]

    def end(self, tag: str) -> None:
        if tag == self.inside:
            self.inside = None
            self._keep(tag, self.text)

    def close(self) -> None:
        return None


def _xmp_times(data: bytes, origin: object) -> dict[_Strength, _Stamp]:
    """The best date of each strength an XMP packet holds; DTDs (so entities) are refused."""
    target = _XmpDates()
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    try:
        for start in range(0, len(data), 1 << 16):
            parser.feed(data[start : start + (1 << 16)])
        parser.close()
    except _Enough:
        pass
    except (SyntaxError, ValueError) as error:  # ParseError, DTDForbidden, bad encodings
        log.debug("ignoring the rest of the XMP in %s: %s", origin, error)
    times: dict[_Strength, _Stamp] = {}
    for name, strength in _XMP_DATES.items():
        stamp = _stamp(_text(target.values.get(name), 40))
        if stamp is not None and strength not in times:
            times[strength] = stamp
    return times


def _open_regular(path: Path) -> IO[bytes] | None:
    """`path` opened for reading, or None when it is missing, unreadable or no regular file
    (a FIFO would block)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return os.fdopen(fd, "rb")
    os.close(fd)
    return None


def _sidecar_times(path: Path) -> dict[_Strength, _Stamp]:
    """Dates from `IMG_1.xmp` overlaid with those from `IMG_1.jpg.xmp`, the more specific."""
    times: dict[_Strength, _Stamp] = {}
    names = (path.with_suffix(".xmp"), path.with_name(path.name + ".xmp")) if path.name else ()
    for sidecar in names:
        if sidecar == path:
            continue
        file = _open_regular(sidecar)
        if file is None:
            continue
        with file:
            data = file.read(MAX_XMP_BYTES + 1)
        if len(data) > MAX_XMP_BYTES:
            log.debug("ignoring %s: larger than %d MB", sidecar, MAX_XMP_BYTES >> 20)
            continue
        times.update(_xmp_times(data, sidecar))
    return times


def _embedded_xmp(image: Image.Image | None) -> bytes:
    packet = image.info.get("xmp") if image is not None else None
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    return packet if isinstance(packet, bytes) and len(packet) <= MAX_XMP_BYTES else b""


def _mtime(path: Path, mtime_ns: int | None) -> _Stamp | None:
    """The file's mtime at this machine's offset at that instant."""
    try:
        if mtime_ns is None:
            mtime_ns = os.stat(path).st_mtime_ns
        seconds = mtime_ns / 1e9
        offset = round(time.localtime(seconds).tm_gmtoff / 60)
    except (OSError, OverflowError, ValueError):
        return None
    return _plausible(_Stamp(seconds + 60.0 * offset, offset))


def _time(
    fields: dict[int, object], image: Image.Image | None, path: Path, mtime_ns: int | None
) -> tuple[_Stamp, TimeSource] | None:
    """The strongest date found, EXIF before XMP at each strength, else the mtime."""
    found = {TimeSource.EXIF: _exif_times(fields)}
    if _Strength.CAPTURED not in found[TimeSource.EXIF]:  # else no XMP can win: skip reading it
        packet = _embedded_xmp(image)
        inside = _xmp_times(packet, path) if packet else {}
        found[TimeSource.XMP] = {**inside, **_sidecar_times(path)}
    for strength in _Strength:
        for source, times in found.items():
            if strength in times:
                return times[strength], source
    stamp = _mtime(path, mtime_ns)
    return None if stamp is None else (stamp, TimeSource.MTIME)


def _capture(image: Image.Image | None, path: Path, mtime_ns: int | None) -> Capture:
    fields, gps = _read_exif(image, path) if image is not None else ({}, {})
    position = _position(gps)
    latitude, longitude = position if position is not None else (None, None)
    make, model = (_text(fields.get(tag), MAX_NAME_CHARS) for tag in (_MAKE, _MODEL))
    when = _time(fields, image, path, mtime_ns)
    if when is None:
        return Capture(None, None, TimeSource.NONE, latitude, longitude, make, model)
    (local, offset), source = when
    return Capture(local, offset, source, latitude, longitude, make, model)


def read_capture(image: Image.Image, path: Path, mtime_ns: int | None = None) -> Capture:
    """What `image`, freshly opened from `path`, says of its capture; never decodes pixels.

    Call it before `draft` or `load`. `mtime_ns` saves a stat of `path` when known. Never
    raises for what the file holds.
    """
    return _capture(image, path, mtime_ns)


_heif_lock = threading.Lock()


def _register_heif() -> None:
    """Let Pillow open HEIF headers, as images.py does before decoding."""
    with _heif_lock:
        if "HEIF" not in Image.OPEN:
            import pillow_heif

            pillow_heif.register_heif_opener()


def read_capture_file(path: Path) -> Capture:
    """`read_capture` for a photo already in the library, opening only its header. A file that
    can't be opened still gets its sidecar's date or its mtime."""
    _register_heif()
    file = _open_regular(path)
    if file is None:
        return _capture(None, path, None)
    with file:
        mtime_ns = os.fstat(file.fileno()).st_mtime_ns
        # Opening runs every plugin's header parser (and the bomb check): anything may fail.
        try:
            with Image.open(file) as image:
                return _capture(image, path, mtime_ns)
        except Exception as error:
            log.debug("reading the header of %s: %r", path, error)
        return _capture(None, path, mtime_ns)
