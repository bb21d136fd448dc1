from conftest import make_images
from PIL import Image
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.cli.plots import plot_progress
from tastemaker.storage.library import open_library
from tastemaker.workflows.reports import progress_data


def test_the_four_plots_are_one_png_of_the_expected_size(library, tmp_path):
    rate(library, 12, batch=4)
    model = {im.id: float(im.id) for im in library.store.images()}
    out = plot_progress(progress_data(library.store, model), tmp_path / "plots" / "p.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (1200, 800)
    small = plot_progress(progress_data(library.store), tmp_path / "s.png", (6, 4), dpi=50)
    with Image.open(small) as im:
        assert im.size == (300, 200)


def test_a_library_with_no_choices_still_plots(library, tmp_path):
    out = plot_progress(progress_data(library.store), tmp_path / "empty.png")
    with Image.open(out) as im:
        assert im.size == (1200, 800)


def test_stats_plot_writes_the_image(tmp_path):
    make_images(tmp_path / "lib", 6)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        rate(library, 8, batch=4)
    out = tmp_path / "out.png"
    result = CliRunner().invoke(app, ["stats", str(tmp_path / "lib"), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote the progress plots to {out}" in " ".join(result.output.split())
    assert "Choices: 8" in result.output
    with Image.open(out) as im:
        assert im.size == (1200, 800)
