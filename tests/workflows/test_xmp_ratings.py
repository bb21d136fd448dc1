"""Star ratings written into XMP sidecars and read back as photo managers read them: by
libexiv2 and, where it is installed, by exiftool."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_images
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.errors import TastemakerError
from tastemaker.storage.library import open_library
from tastemaker.workflows.xmp_ratings import (
    parse_thresholds,
    sidecar_path,
    stars,
    write_star_ratings,
)

exiv2 = pytest.importorskip("exiv2")
runner = CliRunner()

# a sidecar as darktable writes it: its own fields, a title, a colour label and a rating
DARKTABLE_SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="1"
   xmp:Label="Red"
   darktable:xmp_version="5"
   darktable:history_end="3">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour at dawn</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def xmp_fields(sidecar: Path) -> dict[str, str]:
    """Every field of a sidecar, read back by libexiv2."""
    image = exiv2.ImageFactory.open(str(sidecar))
    image.readMetadata()
    return {str(datum.key()): str(datum.value()) for datum in image.xmpData()}


def test_quintiles_give_each_fifth_its_stars():
    scores = [0.5, -2.0, 1.5, 3.0, -1.0, 0.0, 2.0, -0.5, 1.0, 2.5]
    assert stars(scores) == [3, 1, 4, 5, 1, 2, 4, 2, 3, 5]
    assert stars([]) == []
    assert stars([7.0]) == [3]  # one image is the median


def test_equal_scores_get_equal_stars():
    assert stars([1.0, 1.0, 1.0, 1.0, 0.0]) == [4, 4, 4, 4, 1]


def test_thresholds_are_the_lowest_scores_of_2_to_5_stars():
    assert stars([-5, -1, -0.5, 0.3, 0.9, 1, 7], [-1, -0.3, 0.3, 1]) == [1, 2, 2, 4, 4, 5, 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1,2,3",
            "Star thresholds '1,2,3': give four numbers, the lowest score of 2, 3, 4 and 5 "
            "stars, such as -1,-0.3,0.3,1",
        ),
        (
            "a,b,c,d",
            "Star thresholds 'a,b,c,d': give four numbers, the lowest score of 2, 3, 4 and 5 "
            "stars, such as -1,-0.3,0.3,1",
        ),
        ("1,0,2,3", "Star thresholds '1,0,2,3' must be in ascending order"),
    ],
)
def test_unusable_thresholds_are_refused(text, message):
    with pytest.raises(TastemakerError) as caught:
        parse_thresholds(text)
    assert str(caught.value) == message


def test_sidecars_are_named_as_each_photo_manager_reads_them():
    image = Path("shoot/IMG_0001.CR2")
    assert sidecar_path(image) == Path("shoot/IMG_0001.CR2.xmp")
    assert sidecar_path(image, "lightroom") == Path("shoot/IMG_0001.xmp")
    with pytest.raises(TastemakerError, match="No sidecar style 'aperture'"):
        sidecar_path(image, "aperture")


def test_new_sidecars_get_the_stars_and_images_stay_as_they_were(tmp_path):
    images = make_images(tmp_path, 5)
    before = [p.read_bytes() for p in images]
    report = write_star_ratings(images, [0.1, -3.0, 2.0, 0.5, -1.0])
    assert (report.written, report.created) == (5, 5)
    ratings = [xmp_fields(sidecar_path(p))["Xmp.xmp.Rating"] for p in images]
    assert ratings == ["3", "1", "5", "4", "2"]
    assert [p.read_bytes() for p in images] == before


def test_an_existing_sidecar_keeps_everything_but_its_rating(tmp_path):
    (image,) = make_images(tmp_path, 1)
    sidecar = sidecar_path(image)
    sidecar.write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    before = xmp_fields(sidecar)
    report = write_star_ratings([image], [0.0], thresholds=[-1, -0.3, 0.3, 1])
    assert (report.written, report.created) == (1, 0)
    after = xmp_fields(sidecar)
    assert after.pop("Xmp.xmp.Rating") == "3" and before.pop("Xmp.xmp.Rating") == "1"
    assert after == before
    assert after["Xmp.darktable.history_end"] == "3"
    assert "Harbour at dawn" in after["Xmp.dc.title"]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_the_ratings_and_the_kept_fields(tmp_path):
    (first, second) = make_images(tmp_path, 2)
    sidecar_path(second, "lightroom").write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    write_star_ratings([first, second], [1.0, 2.0], "lightroom")
    shown = subprocess.run(
        [
            "exiftool",
            "-json",
            "-XMP:all",
            *(str(sidecar_path(p, "lightroom")) for p in (first, second)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    read = json.loads(shown.stdout)
    assert [r["Rating"] for r in read] == [2, 4]  # percentiles 25 and 75
    assert read[1]["Label"] == "Red" and read[1]["Title"] == "Harbour at dawn"


def test_lightroom_names_that_two_images_would_share_are_refused(tmp_path):
    raw, jpeg = tmp_path / "IMG_1.png", tmp_path / "IMG_1.jpg"
    with pytest.raises(TastemakerError) as caught:
        write_star_ratings([raw, jpeg], [0.0, 1.0], "lightroom")
    assert str(caught.value) == (
        f"{raw} and {jpeg} would share the sidecar {tmp_path / 'IMG_1.xmp'}: "
        "use darktable-style sidecars (IMG_0001.CR2.xmp)"
    )
    assert not (tmp_path / "IMG_1.xmp").exists()


def test_a_sidecar_that_is_not_xmp_is_named_in_one_line(tmp_path):
    (image,) = make_images(tmp_path, 1)
    sidecar_path(image).write_text("not xml <", encoding="utf-8")
    with pytest.raises(TastemakerError) as caught:
        write_star_ratings([image], [0.0])
    assert str(caught.value) == (
        f"{sidecar_path(image)}: cannot be written as XMP (failed to read input data)"
    )


def test_export_xmp_stars_the_compared_images(tmp_path):
    folder = tmp_path / "lib"
    images = make_images(folder, 6)
    before = [p.read_bytes() for p in images]
    with open_library(folder) as library:
        library.scan()
        rate(library, 1, batch=3).close()  # one choice between two images
        compared = {r.path for r in library.store.ratings() if r.comparisons}
    result = runner.invoke(app, ["export", str(folder), "--xmp", "--stars-at", "-9,-8,8,9"])
    assert result.exit_code == 0, result.output
    assert result.output == "Wrote star ratings to 2 XMP sidecars (2 new)\n"
    sidecars = sorted(folder.glob("*.xmp"))
    assert {s.name for s in sidecars} == {f"{path}.xmp" for path in compared}
    assert {xmp_fields(s)["Xmp.xmp.Rating"] for s in sidecars} == {"3"}  # both Elo near 0
    assert [p.read_bytes() for p in images] == before


def test_score_xmp_stars_the_scored_images(tmp_path, tiny_model):
    images = make_images(tmp_path / "shoot", 5)
    args = ["score", str(tiny_model), str(tmp_path / "shoot"), "--json", "--xmp"]
    result = runner.invoke(app, [*args, "--sidecar", "lightroom"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "Wrote star ratings to 5 XMP sidecars (5 new)\n"
    scores = {r["path"]: r["score"] for r in json.loads(result.stdout)}
    expected = dict(zip(scores, stars(list(scores.values())), strict=True))
    for image in images:
        rating = xmp_fields(sidecar_path(image, "lightroom"))["Xmp.xmp.Rating"]
        assert int(rating) == expected[str(image)]


def test_a_missing_extra_is_named_before_any_work(tmp_path, monkeypatch):
    images = make_images(tmp_path, 2)
    monkeypatch.setitem(sys.modules, "exiv2", None)  # as if it were not installed
    result = runner.invoke(app, ["export", str(tmp_path), "--xmp"])
    assert result.exit_code == 1
    assert "Writing XMP star ratings needs python-exiv2: pip install 'tastemaker[xmp]'" in (
        result.output
    )
    assert not any(sidecar_path(p).exists() for p in images)


def test_export_without_a_file_or_xmp_says_what_to_give(tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 1
    assert "Name the file to write with --output (or give --xmp)" in result.output


def test_an_unknown_sidecar_style_is_refused_before_any_work(tmp_path, tiny_model):
    images = make_images(tmp_path, 2)
    result = runner.invoke(
        app, ["score", str(tiny_model), str(tmp_path), "--xmp", "--sidecar", "aperture"]
    )
    assert result.exit_code == 1
    assert "No sidecar style 'aperture': use darktable or lightroom" in result.output
    assert not list(tmp_path.glob("*.xmp")) and len(images) == 2


@pytest.mark.parametrize("command", ["export", "score"])
def test_the_help_names_the_extra_to_install(command):
    result = runner.invoke(app, [command, "--help"])
    words = result.output.replace("│", " ").split()
    assert "'tastemaker[xmp]'." in words
