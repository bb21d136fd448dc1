"""What a scan says: copies merged into one image are counted, and each unreadable file
is named once; later commands say in one line how many are still skipped."""

import shutil

from conftest import make_images
from typer.testing import CliRunner

from tastemaker.cli import app

runner = CliRunner()


def lines(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [" ".join(line.split()) for line in result.output.splitlines() if line.strip()]


def test_scan_counts_copies_once_and_says_so(tmp_path):
    images = make_images(tmp_path / "lib", 5)
    shutil.copy(images[0], tmp_path / "lib" / "copy-a.png")
    shutil.copy(images[0], tmp_path / "lib" / "copy-b.png")
    (tmp_path / "lib" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    said = lines(runner.invoke(app, ["scan", str(tmp_path / "lib")]))
    assert said[-1] == (
        "5 images (5 new, 0 changed, 0 missing, 1 unreadable); 2 files are copies of "
        "another, counted once"
    )
    shutil.copy(images[1], tmp_path / "lib" / "copy-c.png")
    said = lines(runner.invoke(app, ["scan", str(tmp_path / "lib")]))
    assert said[-1] == (
        "5 images (0 new, 0 changed, 0 missing, 1 unreadable); 3 files are copies of "
        "another, counted once"
    )


def test_an_unreadable_file_is_named_once_then_counted(tmp_path):
    lib = tmp_path / "lib"
    make_images(lib, 3)
    (lib / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    first = lines(runner.invoke(app, ["scan", str(lib)]))
    assert first[0].startswith("Skipped broken.jpg: cannot be read as an image")
    summary = f"1 unreadable file skipped, named before (tastemaker scan {lib} lists them)"
    for command in (["stats", str(lib)], ["export", str(lib), "-o", str(tmp_path / "s.csv")]):
        said = lines(runner.invoke(app, command))
        assert summary in said and not [line for line in said if "Skipped" in line]

    (lib / "worse.png").write_bytes(b"not a png")  # a new one is named, the old counted
    said = lines(runner.invoke(app, ["stats", str(lib)]))
    assert [line for line in said if line.startswith("Skipped")] == [
        line for line in said if line.startswith("Skipped worse.png")
    ]
    assert len([line for line in said if line.startswith("Skipped")]) == 1
    assert summary in said

    again = lines(runner.invoke(app, ["scan", str(lib)]))  # scan names every one
    assert sorted(line.split(":")[0] for line in again if line.startswith("Skipped")) == [
        "Skipped broken.jpg",
        "Skipped worse.png",
    ]
    (lib / "broken.jpg").unlink()  # fixed: forgotten, so named again if it comes back
    lines(runner.invoke(app, ["stats", str(lib)]))
    (lib / "broken.jpg").write_bytes(b"\xff\xd8 broken again")
    said = lines(runner.invoke(app, ["stats", str(lib)]))
    assert any(line.startswith("Skipped broken.jpg") for line in said)


def test_the_summary_names_a_store_kept_elsewhere(tmp_path):
    lib, store = tmp_path / "lib", tmp_path / "store"
    make_images(lib, 2)
    (lib / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    lines(runner.invoke(app, ["scan", str(lib), "--store", str(store)]))
    said = lines(runner.invoke(app, ["stats", str(lib), "--store", str(store)]))
    assert (
        f"1 unreadable file skipped, named before (tastemaker scan {lib} --store {store} "
        "lists them)"
    ) in said
