"""Versioned models in the lake: <lake>/models/<name>/<version>/ (files + metadata.json) and current.json.

A version directory is written completely under a temporary name and then renamed, so a crash never leaves
a half-written model that `current.json` could point to.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reviewlake.errors import UserError


class ModelStore:
    """Saved versions of one model family (e.g. 'sentiment') under a lake."""

    def __init__(self, lake_root: Path, name: str) -> None:
        self.root = Path(lake_root) / "models" / name

    def path(self, version: str) -> Path:
        return self.root / version

    def versions(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "metadata.json").exists())

    def save(self, model: Any, metadata: dict[str, Any]) -> str:
        """Write `model` (anything with save(directory)) and its metadata; return the new version id."""
        version = f"{metadata['kind']}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        staging = self.root / f".tmp-{version}"
        staging.mkdir(parents=True)
        model.save(staging)
        full = {**metadata, "version": version, "saved_at": datetime.now(UTC).isoformat()}
        (staging / "metadata.json").write_text(json.dumps(full, indent=1, default=str))
        staging.rename(self.path(version))
        return version

    def metadata(self, version: str) -> dict[str, Any]:
        return json.loads((self.path(version) / "metadata.json").read_text())

    def current(self) -> str | None:
        pointer = self.root / "current.json"
        return json.loads(pointer.read_text())["version"] if pointer.exists() else None

    def promote(self, version: str, reason: str) -> None:
        """Make `version` current (atomic rename of the pointer file)."""
        if version not in self.versions():
            raise KeyError(f"no model version {version} under {self.root}")
        tmp = self.root / f".current-{uuid.uuid4().hex}"
        tmp.write_text(json.dumps({"version": version, "promoted_at": datetime.now(UTC).isoformat(),
                                   "reason": reason}))
        tmp.replace(self.root / "current.json")

    def resolve(self, reference: str) -> Path:
        """A version id of this store, or a path to a model directory saved by any lake."""
        candidate = Path(reference).expanduser()
        if (candidate / "metadata.json").exists():
            return candidate
        if (self.path(reference) / "metadata.json").exists():
            return self.path(reference)
        known = ", ".join(self.versions()) or "none"
        raise UserError(f"sentiment model {reference!r} is neither a model directory nor a version in "
                        f"{self.root} (known versions: {known})")

    def discard_staging(self) -> None:
        for leftover in self.root.glob(".tmp-*") if self.root.exists() else ():
            shutil.rmtree(leftover, ignore_errors=True)
