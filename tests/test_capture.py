"""Capture time, place and camera read from real files written into tmp_path, broken ones too."""

from __future__ import annotations

import calendar
import io
import os
import struct
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from PIL import Image, ImageOps
from PIL.TiffImagePlugin import IFDRational

from autoalbum.embedding import capture
from autoalbum.embedding.capture import Capture, TimeSource, read_capture, read_capture_file

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "exif-samples"
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIGINAL, OFFSET_ORIGINAL, SUBSEC_ORIGINAL = 0x9003, 0x9011, 0x9291
DIGITIZED, DATETIME, MAKE, MODEL = 0x9004, 0x0132, 0x010F, 0x0110
MTIME = calendar.timegm((2015, 6, 1, 12, 0, 0))  # what the photos' files are stamped with


def _seconds(*fields: int) -> float:
    """A wall-clock time as seconds, as if it were UTC."""
    return float(calendar.timegm((*fields, 0, 0, 0)[:6]))


def _exif(
    exif_ifd: Mapping[int, object] | None = None,
    gps: Mapping[int, object] | None = None,
    **ifd0: object,
) -> bytes:
    """An EXIF block written by Pillow (bytes: an Exif holding only sub-IFDs would be falsy and
    left out of PNGs)."""
    exif = Image.Exif()
    for name, value in ifd0.items():
        exif[{"make": MAKE, "model": MODEL, "datetime": DATETIME, "orientation": 0x0112}[name]] = (
            value
        )
    exif.get_ifd(EXIF_IFD).update(exif_ifd or {})
    exif.get_ifd(GPS_IFD).update(gps or {})
    return exif.tobytes()


def _photo(path: Path, exif: bytes | None = None, **params: Any) -> Path:
    """A small photo at `path` (its suffix picks the format) stamped with MTIME."""
    image = Image.new("RGB", (64, 48), (90, 140, 200))
    if exif is not None:
        params["exif"] = exif
    image.save(path, **params)
    os.utime(path, ns=(MTIME * 10**9, MTIME * 10**9))
    return path


def _read(path: Path) -> Capture:
    """read_capture as the decoder calls it, checking it left the pixels undecoded."""
    with Image.open(path) as image:
        found = read_capture(image, path)
        assert image._im is None, "read_capture decoded the pixels"
    assert read_capture_file(path) == found
    return found


def _taken(exif_ifd: dict[int, object], tmp_path: Path) -> Capture:
    return _read(_photo(tmp_path / "IMG_1.jpg", _exif(exif_ifd)))


# --- time from EXIF ----------------------------------------------------------------------------


def test_date_time_original_without_offset(tmp_path: Path) -> None:
    found = _taken({ORIGINAL: "2008:05:30 15:56:01"}, tmp_path)
    assert found.source is TimeSource.EXIF
    assert found.local == _seconds(2008, 5, 30, 15, 56, 1)
    assert found.offset_minutes is None and found.utc is None
    assert found.taken == found.local
    assert found.local_datetime == datetime(2008, 5, 30, 15, 56, 1)
    assert found.local_date == date(2008, 5, 30)


def test_offset_and_subseconds(tmp_path: Path) -> None:
    found = _taken(
        {ORIGINAL: "2021:04:11 23:47:53", OFFSET_ORIGINAL: "-05:00", SUBSEC_ORIGINAL: "054"},
        tmp_path,
    )
    assert found.local == _seconds(2021, 4, 11, 23, 47, 53) + 0.054
    assert found.offset_minutes == -300
    assert found.utc == pytest.approx(_seconds(2021, 4, 12, 4, 47, 53) + 0.054)
    assert found.taken == found.utc
    assert found.local_date == date(2021, 4, 11)  # the photo's own day, not UTC's


@pytest.mark.parametrize(
    ("offset", "minutes"), [("+05:45", 345), ("-03:30", -210), ("+14:00", 840), ("+0100", 60)]
)
def test_offsets(tmp_path: Path, offset: str, minutes: int) -> None:
    found = _taken({ORIGINAL: "2019:01:01 00:00:00", OFFSET_ORIGINAL: offset}, tmp_path)
    assert found.offset_minutes == minutes


def test_with_offset_keeps_the_wall_clock(tmp_path: Path) -> None:
    found = _taken({ORIGINAL: "2019:01:01 10:00:00"}, tmp_path)
    filled = found.with_offset(120)
    assert filled.local == found.local and filled.utc == _seconds(2019, 1, 1, 8, 0, 0)


def test_weaker_exif_dates_fill_in_by_strength(tmp_path: Path) -> None:
    both = _exif({DIGITIZED: "2004:08:27 13:52:55"}, datetime="2008:07:31 17:15:01")
    assert _read(_photo(tmp_path / "a.jpg", both)).local == _seconds(2004, 8, 27, 13, 52, 55)
    saved = _exif(datetime="2022:02:03 14:44:07")  # phones that write DateTime alone
    found = _read(_photo(tmp_path / "b.jpg", saved))
    assert (found.source, found.local) == (TimeSource.EXIF, _seconds(2022, 2, 3, 14, 44, 7))


def test_original_wins_over_weaker_dates(tmp_path: Path) -> None:
    exif = _exif(
        {ORIGINAL: "2001:02:03 04:05:06", DIGITIZED: "2002:01:01 00:00:00"},
        datetime="2003:01:01 00:00:00",
    )
    assert _read(_photo(tmp_path / "a.jpg", exif)).local == _seconds(2001, 2, 3, 4, 5, 6)


# --- place and camera --------------------------------------------------------------------------


def _dms(degrees: int, minutes: int, seconds: float) -> tuple[IFDRational, ...]:
    return (IFDRational(degrees), IFDRational(minutes), IFDRational(round(seconds * 100), 100))


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "latitude", "longitude"),
    [
        ("N", "E", 43.46745, 11.88513),
        ("S", "W", -43.46745, -11.88513),
        ("N", "W", 43.46745, -11.88513),
    ],
)
def test_gps_hemispheres(
    tmp_path: Path, lat_ref: str, lon_ref: str, latitude: float, longitude: float
) -> None:
    gps = {
        1: lat_ref,
        2: _dms(43, 28, 2.81),
        3: lon_ref,
        4: _dms(11, 53, 6.46),
        6: IFDRational(250),
    }
    found = _read(_photo(tmp_path / "g.jpg", _exif(gps=gps)))
    assert found.latitude == pytest.approx(latitude, abs=1e-5)
    assert found.longitude == pytest.approx(longitude, abs=1e-5)


def test_gps_in_decimal_minutes(tmp_path: Path) -> None:
    """Kodak writes (0 deg, 22.278 min, 0 s)."""
    gps = {1: "S", 2: (0, IFDRational(22278, 1000), 0), 3: "E", 4: (36, IFDRational(3385, 1000), 0)}
    found = _read(_photo(tmp_path / "g.jpg", _exif(gps=gps)))
    assert (found.latitude, found.longitude) == pytest.approx((-0.3713, 36.056417))


def test_make_and_model_are_cleaned(tmp_path: Path) -> None:
    exif = _exif(make="PENTAX Corporation \x00\x00 ", model="ION230\x00F  junk")
    found = _read(_photo(tmp_path / "c.jpg", exif))
    assert (found.make, found.model) == ("PENTAX Corporation", "ION230")


# --- the decoder's call: rotated photos, no pixel decoded ----------------------------------------


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_rotated_photo_still_drafts_and_turns(tmp_path: Path, orientation: int) -> None:
    path = _photo(
        tmp_path / "r.jpg", _exif({ORIGINAL: "2010:10:10 10:10:10"}, orientation=orientation)
    )
    with Image.open(path) as image:
        assert read_capture(image, path).local == _seconds(2010, 10, 10, 10, 10, 10)
        assert image.draft("RGB", (32, 24)) is not None  # nothing was loaded before the draft
        image.load()
        upright = ImageOps.exif_transpose(image)
    assert upright.size == ((32, 24) if orientation == 3 else (24, 32))


def _png_with_late_exif(path: Path) -> Path:
    """A PNG whose eXIf chunk follows the pixels, as some writers put it."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "PNG", exif=_exif({ORIGINAL: "2012:01:01 00:00:00"}))
    data = buffer.getvalue()
    start = data.index(b"eXIf") - 4
    end = start + 12 + struct.unpack(">I", data[start : start + 4])[0]
    rest = data[:start] + data[end:]
    iend = rest.index(b"IEND") - 4
    path.write_bytes(rest[:iend] + data[start:end] + rest[iend:])
    os.utime(path, ns=(MTIME * 10**9, MTIME * 10**9))
    return path


def test_png_exif_after_the_pixels_is_not_worth_a_decode(tmp_path: Path) -> None:
    found = _read(_png_with_late_exif(tmp_path / "late.png"))  # _read checks nothing loaded
    assert found.source is TimeSource.MTIME


def test_png_and_webp_with_exif(tmp_path: Path) -> None:
    exif = _exif({ORIGINAL: "2012:03:04 05:06:07"}, datetime="2013:01:01 00:00:00")
    for name in ("p.png", "p.webp"):
        assert _read(_photo(tmp_path / name, exif)).local == _seconds(2012, 3, 4, 5, 6, 7)


def test_tiff_ifd0(tmp_path: Path) -> None:
    exif = _exif(datetime="2009:09:26 01:11:52", make="Nikon", model="Coolscan")
    found = _read(_photo(tmp_path / "scan.tiff", exif))
    assert found.local == _seconds(2009, 9, 26, 1, 11, 52) and found.model == "Coolscan"


def test_heic(tmp_path: Path) -> None:
    pillow_heif.register_heif_opener()
    bare = _photo(tmp_path / "bare.heic", quality=50)
    assert _read(bare).source is TimeSource.MTIME
    tagged = _photo(tmp_path / "t.heic", _exif({ORIGINAL: "2022:02:16 12:55:41"}), quality=50)
    assert _read(tagged).local == _seconds(2022, 2, 16, 12, 55, 41)


# --- XMP: sidecars and the packet inside -------------------------------------------------------

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" {attributes}>{elements}</rdf:Description>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def _xmp(elements: str = "", **attributes: str) -> str:
    """An XMP packet with these properties: `exif_DateTimeOriginal="..."` as attributes."""
    written = " ".join(
        f'{name.replace("_", ":", 1)}="{value}"' for name, value in attributes.items()
    )
    return XMP.format(attributes=written, elements=elements)


@pytest.mark.parametrize("name", ["IMG_1.jpg.xmp", "IMG_1.xmp"])
def test_sidecar_attribute(tmp_path: Path, name: str) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    (tmp_path / name).write_text(_xmp(exif_DateTimeOriginal="2010-01-02T03:04:05+01:00"))
    found = _read(photo)
    assert (found.source, found.local) == (TimeSource.XMP, _seconds(2010, 1, 2, 3, 4, 5))
    assert found.offset_minutes == 60


def test_sidecar_element_and_utc(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_1.png")
    (tmp_path / "IMG_1.xmp").write_text(
        _xmp("<xmp:CreateDate>2011-05-06T07:08:09.5Z</xmp:CreateDate>")
    )
    found = _read(photo)
    assert (found.local, found.offset_minutes) == (_seconds(2011, 5, 6, 7, 8, 9) + 0.5, 0)


def test_sidecar_named_after_the_photo_wins(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    (tmp_path / "IMG_1.xmp").write_text(_xmp(exif_DateTimeOriginal="2001-01-01T00:00:00"))
    (tmp_path / "IMG_1.jpg.xmp").write_text(_xmp(exif_DateTimeOriginal="2002-02-02T00:00:00"))
    assert _read(photo).local == _seconds(2002, 2, 2, 0, 0, 0)


def test_capture_dates_beat_digitizing_ones_across_sources(tmp_path: Path) -> None:
    """A sidecar's capture date wins over EXIF's DateTimeDigitized; EXIF's original over all."""
    photo = _photo(tmp_path / "IMG_1.jpg", _exif({DIGITIZED: "2005:01:01 00:00:00"}))
    (tmp_path / "IMG_1.xmp").write_text(_xmp(photoshop_DateCreated="2003-08-31"))
    assert _read(photo).local == _seconds(2003, 8, 31, 0, 0, 0)  # IPTC's date may have no time
    photo = _photo(tmp_path / "IMG_1.jpg", _exif({ORIGINAL: "2006:01:01 00:00:00"}))
    assert (_read(photo).source, _read(photo).local) == (TimeSource.EXIF, _seconds(2006, 1, 1))


def test_xmp_inside_the_photo(tmp_path: Path) -> None:
    packet = _xmp(xmp_CreateDate="2012:07:14 16:30:12")  # EXIF's own format, as some write
    photo = _photo(tmp_path / "IMG_1.jpg", xmp=packet.encode())
    found = _read(photo)
    assert (found.source, found.local) == (TimeSource.XMP, _seconds(2012, 7, 14, 16, 30, 12))


def test_broken_xmp_date_falls_to_the_next_property(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    packet = _xmp(exif_DateTimeOriginal="yesterday", xmp_CreateDate="2009-09-14T11:08:06+02:00")
    (tmp_path / "IMG_1.xmp").write_text(packet)
    assert _read(photo).local == _seconds(2009, 9, 14, 11, 8, 6)


BILLION_LAUGHS = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
 exif:DateTimeOriginal="2010-01-01T00:00:00">&c;</x:xmpmeta>"""


@pytest.mark.parametrize(
    "content",
    [BILLION_LAUGHS, "not xml at all", "<x>unclosed", "", "\x00\xff" * 100],
    ids=["dtd", "text", "malformed", "empty", "binary"],
)
def test_hostile_or_broken_sidecar_is_ignored(tmp_path: Path, content: str) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    (tmp_path / "IMG_1.jpg.xmp").write_text(content, encoding="latin-1")
    assert _read(photo).source is TimeSource.MTIME


def test_oversized_sidecar_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    packet = _xmp(exif_DateTimeOriginal="2010-01-02T03:04:05")
    (tmp_path / "IMG_1.xmp").write_text(packet)
    monkeypatch.setattr(capture, "MAX_XMP_BYTES", len(packet) - 1)
    assert _read(photo).source is TimeSource.MTIME


def test_sidecar_that_is_a_fifo_or_folder_does_not_block(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "IMG_1.jpg")
    os.mkfifo(tmp_path / "IMG_1.jpg.xmp")
    (tmp_path / "IMG_1.xmp").mkdir()
    assert _read(photo).source is TimeSource.MTIME


# --- mtime and nothing at all ------------------------------------------------------------------


def test_mtime_fallback_is_the_exact_instant(tmp_path: Path) -> None:
    found = _read(_photo(tmp_path / "plain.jpg"))
    assert (found.source, found.utc) == (TimeSource.MTIME, MTIME)
    assert found.offset_minutes == time.localtime(MTIME).tm_gmtoff // 60
    with Image.open(tmp_path / "plain.jpg") as image:
        given = read_capture(image, tmp_path / "plain.jpg", mtime_ns=1_500_000_000 * 10**9)
    assert given.utc == 1_500_000_000


@pytest.mark.parametrize("seconds", [0, -86400, 31535999, 4102444800], ids=str)
def test_absurd_mtime_is_no_time(tmp_path: Path, seconds: int) -> None:
    path = _photo(tmp_path / "plain.jpg")
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))
    assert _read(path) == Capture()


def test_missing_file(tmp_path: Path) -> None:
    assert read_capture_file(tmp_path / "gone.jpg") == Capture()


# --- broken and absurd tags count as missing ---------------------------------------------------


def _later(seconds: float) -> str:
    return time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(time.time() + seconds))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "    :  :     :  :  ",
        "0000:00:00 00:00:00",
        "1970:01:01 00:00:00",
        "1970:12:31 23:59:59",
        "1601:01:01 00:00:00",
        "2099:01:01 00:00:00",
        "2005:13:01 00:00:00",
        "2005:02:30 12:00:00",
        "2005:08:13 24:00:00",
        "13/08/2005 09:47",
        "2005:08:13 09:47:23" + "x" * 5000,
        12345,
        (2005, 8, 13),
    ],
)
def test_broken_date_is_missing(tmp_path: Path, value: object) -> None:
    assert _taken({ORIGINAL: value}, tmp_path).source is TimeSource.MTIME


def test_future_dates(tmp_path: Path) -> None:
    assert _taken({ORIGINAL: _later(2 * 86400)}, tmp_path).source is TimeSource.MTIME
    assert _taken({ORIGINAL: _later(3600)}, tmp_path).source is TimeSource.EXIF  # a zone ahead
    assert _taken({ORIGINAL: "1971:01:01 00:00:00"}, tmp_path).source is TimeSource.EXIF


@pytest.mark.parametrize("offset", ["+25:00", "+02:75", "junk", "", "+02:00:00", 120])
def test_broken_offset_keeps_the_time(tmp_path: Path, offset: object) -> None:
    found = _taken({ORIGINAL: "2010:01:01 12:00:00", OFFSET_ORIGINAL: offset}, tmp_path)
    assert (found.local, found.offset_minutes) == (_seconds(2010, 1, 1, 12), None)


@pytest.mark.parametrize("subsec", ["abc", "1234567890", " ", "-5"])
def test_broken_subseconds_keep_the_time(tmp_path: Path, subsec: str) -> None:
    found = _taken({ORIGINAL: "2010:01:01 12:00:00", SUBSEC_ORIGINAL: subsec}, tmp_path)
    assert found.local == _seconds(2010, 1, 1, 12)


# Raw EXIF, for the types and values Pillow refuses to write.
Entry = tuple[int, int, int, bytes]  # tag, TIFF type, count, value
ASCII, LONG, RATIONAL, SRATIONAL = 2, 4, 5, 10


def _ascii(tag: int, text: str) -> Entry:
    return tag, ASCII, len(text) + 1, text.encode("latin-1") + b"\0"


def _rationals(tag: int, *pairs: tuple[int, int], kind: int = RATIONAL) -> Entry:
    code = "<" + ("ii" if kind == SRATIONAL else "II") * len(pairs)
    return tag, kind, len(pairs), struct.pack(code, *(n for pair in pairs for n in pair))


def _ifd(entries: Sequence[Entry], at: int) -> bytes:
    """An IFD placed at offset `at`, its longer values right after it."""
    table_end = at + 2 + 12 * len(entries) + 4
    table, extra = struct.pack("<H", len(entries)), b""
    for tag, kind, count, value in sorted(entries):
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field, extra = struct.pack("<I", table_end + len(extra)), extra + value
        table += struct.pack("<HHI", tag, kind, count) + field
    return table + b"\0\0\0\0" + extra


def _raw_exif(ifd0: Sequence[Entry] = (), gps: Sequence[Entry] = ()) -> bytes:
    """A little-endian EXIF block: IFD0 with a GPS IFD after it."""
    pointer = [(GPS_IFD, LONG, 1, b"\0\0\0\0")] if gps else []
    first = _ifd([*ifd0, *pointer], 8)
    if gps:
        pointer = [(GPS_IFD, LONG, 1, struct.pack("<I", 8 + len(first)))]
        first = _ifd([*ifd0, *pointer], 8)
    return (
        b"Exif\0\0II*\0"
        + struct.pack("<I", 8)
        + first
        + (_ifd(gps, 8 + len(first)) if gps else b"")
    )


GOOD_LAT = _rationals(2, (45, 1), (30, 1), (0, 1))
GOOD_LON = _rationals(4, (7, 1), (15, 1), (0, 1))


@pytest.mark.parametrize(
    "entries",
    [
        [
            _ascii(1, "N"),
            _rationals(2, (0, 1), (0, 1), (0, 1)),
            _ascii(3, "E"),
            _rationals(4, (0, 1)),
        ],
        [_ascii(1, "N"), _rationals(2, (45, 0), (30, 1), (0, 1)), _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), _rationals(2, (91, 1)), _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), GOOD_LAT, _ascii(3, "E"), _rationals(4, (181, 1))],
        [_ascii(1, "N"), _rationals(2, (45, 1), (61, 1), (0, 1)), _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), _rationals(2, (-45, 1), kind=SRATIONAL), _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), _ascii(2, "45.5"), _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), _rationals(2, *[(1, 1)] * 4), _ascii(3, "E"), GOOD_LON],
        [GOOD_LAT, _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "X"), GOOD_LAT, _ascii(3, "E"), GOOD_LON],
        [_ascii(1, "N"), GOOD_LAT, (3, LONG, 1, b"\1\0\0\0"), GOOD_LON],
    ],
    ids=[
        "zero-zero",
        "zero-denominator",
        "latitude-91",
        "longitude-181",
        "minutes-61",
        "negative",
        "text",
        "four-values",
        "no-ref",
        "bad-ref",
        "ref-not-text",
    ],
)
def test_broken_gps_is_missing(tmp_path: Path, entries: list[Entry]) -> None:
    found = _read(_photo(tmp_path / "g.jpg", _raw_exif([_ascii(MAKE, "Nikon")], entries)))
    assert (found.latitude, found.longitude, found.make) == (None, None, "Nikon")


def test_raw_exif_writer_writes_good_gps(tmp_path: Path) -> None:
    gps = [_ascii(1, "S"), GOOD_LAT, _ascii(3, "W"), _rationals(4, (725, 100))]
    found = _read(_photo(tmp_path / "g.jpg", _raw_exif(gps=gps)))
    assert (found.latitude, found.longitude) == pytest.approx((-45.5, -7.25))


@pytest.mark.parametrize(
    "make",
    [_ascii(MAKE, "x" * 5000), _ascii(MAKE, "\0\0   \0"), (MAKE, LONG, 1, b"\1\0\0\0")],
    ids=["huge", "blank", "number"],
)
def test_broken_make_is_missing(tmp_path: Path, make: Entry) -> None:
    photo = _photo(tmp_path / "c.jpg", _raw_exif([make, _ascii(MODEL, "E950\x07")]))
    assert (_read(photo).make, _read(photo).model) == (None, "E950")


@pytest.mark.parametrize(
    "block",
    [
        b"Exif\0\0garbage",
        b"Exif\0\0II*\0\xff\xff\xff\x00",
        b"Exif\0\0II*\0\x08\0\0\0\xff\x00",  # 255 entries promised, none there
        _raw_exif([(DATETIME, ASCII, 20, struct.pack("<I", 10**6))]),  # value far past the end
        _raw_exif([(0x8769, LONG, 1, struct.pack("<I", 8))]),  # Exif IFD pointing at IFD0
    ],
    ids=["not-tiff", "ifd-past-end", "truncated-ifd", "value-past-end", "ifd-loop"],
)
def test_corrupt_exif_block(tmp_path: Path, block: bytes) -> None:
    photo = _photo(tmp_path / "bad.jpg", block)
    assert read_capture_file(photo).source is TimeSource.MTIME
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # else Image.open itself raises Pillow's warnings
        assert _read(photo).source is TimeSource.MTIME


# --- files that are barely images --------------------------------------------------------------


def test_tiny_truncated_and_non_images(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.jpg"
    Image.new("L", (1, 1)).save(tiny, exif=_exif({ORIGINAL: "2010:01:01 00:00:00"}))
    assert read_capture_file(tiny).source is TimeSource.EXIF
    full = _photo(tmp_path / "full.jpg", _exif({ORIGINAL: "2010:01:01 00:00:00"}))
    cases = {"cut.jpg": full.read_bytes()[:40], "empty.jpg": b"", "text.jpg": b"hello"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, ns=(MTIME * 10**9, MTIME * 10**9))
        assert read_capture_file(tmp_path / name).source is TimeSource.MTIME, name


# --- real cameras ------------------------------------------------------------------------------


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/datasets/exif-samples is absent")
def test_exif_samples() -> None:
    """Every sample reads without an exception; measured: 101 files, 74 dated by EXIF or XMP
    (63 EXIF), 18 with a position, 58 with a make."""
    suffixes = {".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif"}
    files = [p for p in sorted(SAMPLES.rglob("*")) if p.suffix.lower() in suffixes]
    found = {p.relative_to(SAMPLES).as_posix(): read_capture_file(p) for p in files}
    dated = [c for c in found.values() if c.source in (TimeSource.EXIF, TimeSource.XMP)]
    print(
        f"{len(files)} files: {len(dated)} dated from metadata, "
        f"{sum(c.latitude is not None for c in found.values())} with GPS, "
        f"{sum(c.make is not None for c in found.values())} with a make"
    )
    assert len(files) >= 100 and len(dated) >= 70
    assert sum(c.source is TimeSource.EXIF for c in dated) >= 60
    assert sum(c.latitude is not None for c in found.values()) >= 16
    assert sum(c.make is not None for c in found.values()) >= 55
    iphone = found["heic/IMG_5195.HEIC"]
    assert iphone.local_datetime == datetime(2021, 4, 11, 15, 47, 53, 54000)
    assert iphone.offset_minutes == -300
    assert (iphone.latitude, iphone.longitude) == pytest.approx((39.05134, -94.28877), abs=1e-5)
    assert found["jpg/gps/DSCN0010.jpg"].latitude == pytest.approx(43.46745, abs=1e-5)
    assert found["jpg/Kodak_CX7530.jpg"].latitude == pytest.approx(-0.3713, abs=1e-4)
    assert found["jpg/xmp/no_exif.jpg"].source is TimeSource.XMP
