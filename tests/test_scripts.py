"""The set-up scripts: each step says what it installs, and why, before it starts."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tastemaker.cli import app

ROOT = Path(__file__).parents[1]
SCRIPTS = ("setup", "demo", "test")


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_parses(script):
    done = subprocess.run(["bash", "-n", ROOT / "scripts" / script], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_a_fresh_setup_says_each_step_before_it_runs(tmp_path):
    """A checkout with nothing installed, on a machine with apt-get, no GPU and no
    Chromium: --dry-run says every step and does none."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", checkout / "scripts")
    shutil.copy(ROOT / "pyproject.toml", checkout)
    tools = tmp_path / "bin"  # the machine's own tools, Chromium and nvidia-smi not among them
    tools.mkdir()
    for tool in ("dirname", "id", "apt-get"):
        (tools / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        [shutil.which("bash"), checkout / "scripts" / "setup", "--dev", "--dry-run"],
        env={"PATH": str(tools)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    steps = [re.match(r"setup: (\S+ \S+)", line)[1] for line in done.stderr.splitlines()]
    assert steps == [
        "Creating .venv,",
        "Upgrading pip",
        "Installing PyTorch,",
        "Installing tastemaker",
        "Updating apt's",
        "Installing Debian's",
    ]
    apt = "apt-get" if os.getuid() == 0 else "sudo apt-get"
    assert f"Installing Debian's chromium ({apt} install chromium) for the" in done.stderr
    assert "the test tools (pytest, Playwright, ruff, mypy)" in done.stderr
    assert sorted(p.name for p in checkout.iterdir()) == ["pyproject.toml", "scripts"]


def test_setup_refuses_an_unknown_argument():
    done = subprocess.run(
        [ROOT / "scripts" / "setup", "--deev"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == "scripts/setup: unknown argument --deev (takes --dev, --dry-run)\n"


def test_demo_help_lists_the_demo_commands_options_without_setting_up():
    done = subprocess.run(
        [ROOT / "scripts" / "demo", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == ""
    listed = set(re.findall(r"^  (--[a-z-]+)", done.stdout, re.MULTILINE))
    command = CliRunner().invoke(app, ["demo", "--help"]).output
    options = set(re.findall(r"(--[a-z-]+)", command)) - {"--help"}
    assert {"--no-browser", "--port"} <= listed
    assert listed == options
