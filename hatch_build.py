"""Hatch build hook: bundle js/ into fgs_widgets/static with esbuild at install time.

A small custom hook instead of hatch-jupyter-builder: the bundle is one
esbuild call and needs no JupyterLab extension machinery.  With npm present
the bundle is rebuilt when a source is newer; without npm a bundle already
present is used, and a missing one is a clear error.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = "fgs_widgets/static/frame_viewer.js"


class FrontendBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        js = root / "js"
        bundle = root / BUNDLE
        if (js / "package.json").exists():
            sources = [p for p in (js / "src").rglob("*.js")] + [js / "package.json"]
            stale = not bundle.exists() or any(
                p.stat().st_mtime > bundle.stat().st_mtime for p in sources)
            npm = shutil.which("npm")
            if stale and npm is None:
                if not bundle.exists():
                    raise RuntimeError(
                        "fgs_widgets: building the frame viewer needs node and npm "
                        "(apt-get install nodejs npm), or a prebuilt fgs_widgets/static bundle")
            elif stale:
                install = "ci" if (js / "package-lock.json").exists() else "install"
                subprocess.run([npm, install, "--no-audit", "--no-fund"], cwd=js, check=True)
                subprocess.run([npm, "run", "build"], cwd=js, check=True)
        if bundle.exists():
            build_data["artifacts"].append(BUNDLE)
