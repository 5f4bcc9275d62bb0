"""The docs' picture of the HTML report, taken from this project's own `paths.report` (after
`make run`) with headless Chromium, so no screenshot is kept in git. `make docs` calls it with
--if-present; the pages show the picture once it has been taken.

    python -m tools.report_screenshot [--if-present] [REPORT] [PNG]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from alexnet_pipeline.config import load_params

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = Path("docs/images/report.png")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = "1280,1800"  # the report's headline, gate, diff, drift, data and validation
COLORS = 64  # the report is flat colours and text: a palette keeps the file small


def find_browser() -> str | None:
    """A Chromium binary on PATH, else None."""
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


def screenshot(report: Path, png: Path, browser: str) -> None:
    """A PNG of the top of `report` as a browser shows it, written whole (temp file, then rename)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        shot = Path(scratch) / "shot.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WINDOW}", f"--screenshot={shot}", report.resolve().as_uri()],
                       capture_output=True, check=True, timeout=120)
        partial = png.with_name(f".{png.name}.tmp")
        Image.open(shot).convert("RGB").quantize(colors=COLORS).save(partial, format="PNG", optimize=True)
        partial.replace(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.report_screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, help="the report (default: paths.report)")
    parser.add_argument("png", nargs="?", type=Path, default=REPO_ROOT / SCREENSHOT)
    parser.add_argument("--if-present", action="store_true",
                        help="without a report yet, do nothing (make docs before any make run)")
    args = parser.parse_args(argv)
    report = args.report or REPO_ROOT / load_params(REPO_ROOT / "params.yaml").paths.report
    browser = find_browser()
    if not report.is_file() and args.if_present:
        return 0
    if not report.is_file():
        print(f"error: {report}: not found; run the pipeline first (make run)", file=sys.stderr)
        return 1
    if browser is None:
        print(f"error: no browser for the screenshot; install one of {', '.join(BROWSERS)}", file=sys.stderr)
        return 1
    screenshot(report, args.png, browser)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
