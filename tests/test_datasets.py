"""Every adapter on a tiny generated tree that mimics the public layout."""

import csv
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from dfd.data.datasets import MediaItem, assign_group_splits, available_datasets, load_items
from dfd.errors import DfdError


def _img(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 16)


def _assert_group_disjoint(items):
    splits_of = defaultdict(set)
    for it in items:
        splits_of[it.group].add(it.split)
    leaking = {g: s for g, s in splits_of.items() if len(s) > 1}
    assert not leaking, f"groups in several splits: {leaking}"
    assert all(it.split in ("train", "valid", "test") for it in items)


def test_registry_lists_all_adapters():
    assert {"dfd-default", "faces140k", "folder", "celebdf", "ffpp"} <= set(available_datasets())
    with pytest.raises(DfdError, match="available"):
        load_items("nope", ".")


def test_faces140k_layout_and_label_flip(tmp_path):
    base = tmp_path / "real_vs_fake" / "real-vs-fake"
    for split, n in (("train", 4), ("valid", 2), ("test", 2)):
        rows = []
        for lab, csv_label in (("real", 1), ("fake", 0)):
            for i in range(n):
                rel = f"{split}/{lab}/{split}{lab}{i}.jpg"
                _img(base / rel, i)
                rows.append({"id": f"{lab}{i}", "label": csv_label, "label_str": lab, "path": rel})
        with open(tmp_path / f"{split}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "label", "label_str", "path"])
            w.writeheader()
            w.writerows(rows)
    items = load_items("faces140k", tmp_path)
    assert len(items) == 16
    for it in items:  # dfd's label 1 means fake; the CSV's 1 means real
        assert it.label == int("/fake/" in it.path.replace("\\", "/"))
        assert it.split in it.path
    assert sum(it.split == "train" for it in items) == 8
    _assert_group_disjoint(items)


def test_faces140k_counts_match_shared_folders(faces140k):
    items = load_items("faces140k", faces140k)
    for split in ("train", "valid", "test"):
        for lab, label in (("real", 0), ("fake", 1)):
            on_disk = len(list((faces140k / "real_vs_fake/real-vs-fake" / split / lab).glob("*.jpg")))
            assert sum(it.split == split and it.label == label for it in items) == on_disk


def test_folder_adapter_groups_subfolders_and_splits(tmp_path):
    for person in range(6):
        for k in range(3):
            _img(tmp_path / "real" / f"person{person}" / f"{k}.png", k)
            _img(tmp_path / "fake" / "faceswap" / f"person{person}_{k}.png", k)
    _touch(tmp_path / "fake" / "clip.mp4")
    (tmp_path / "real" / "notes.txt").write_text("ignored")
    items = load_items("folder", tmp_path, seed=3)
    assert len(items) == 37
    assert {it.kind for it in items} == {"image", "video"}
    assert sum(it.label for it in items) == 19
    _assert_group_disjoint(items)
    same = load_items("folder", tmp_path, seed=3)
    assert [it.split for it in items] == [it.split for it in same]  # fixed seed, fixed splits


def test_folder_adapter_with_explicit_splits(tmp_path):
    for split in ("train", "test"):
        _img(tmp_path / split / "real" / "a.png")
        _img(tmp_path / split / "fake" / "b.png")
    items = load_items("folder", tmp_path)
    assert sorted(it.split for it in items) == ["test", "test", "train", "train"]
    with pytest.raises(DfdError, match="real/ or fake/"):
        load_items("folder", tmp_path / "train" / "real")


def test_celebdf_layout(tmp_path):
    for i in range(4):
        _touch(tmp_path / "Celeb-real" / f"id{i}_000{i}.mp4")
        _touch(tmp_path / "Celeb-synthesis" / f"id{i}_id{(i + 1) % 4}_000{i}.mp4")
        _touch(tmp_path / "YouTube-real" / f"0000{i}.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id3_id0_0003.mp4\n1 Celeb-real/id3_0003.mp4\n"
    )
    items = load_items("celebdf", tmp_path)
    assert len(items) == 12 and all(it.kind == "video" for it in items)
    by_name = {it.path.split("/")[-1]: it for it in items}
    assert by_name["00000.mp4"].split == "test" and by_name["id3_id0_0003.mp4"].split == "test"
    assert by_name["id3_id0_0003.mp4"].label == 1 and by_name["id3_id0_0003.mp4"].group == "celeb:id3"
    _assert_group_disjoint(items)


def test_ffpp_layout_keeps_pairs_together(tmp_path):
    ids = [f"{i:03d}" for i in range(10)]
    for i, vid in enumerate(ids):
        _touch(tmp_path / "original_sequences" / "youtube" / "c23" / "videos" / f"{vid}.mp4")
        partner = ids[(i + 1) % 10] if i % 2 == 0 else ids[i - 1]
        for method in ("Deepfakes", "FaceSwap"):
            _touch(tmp_path / "manipulated_sequences" / method / "c23" / "videos" / f"{vid}_{partner}.mp4")
    items = load_items("ffpp", tmp_path, seed=1)
    assert len(items) == 30
    assert {it.method for it in items if it.label} == {"Deepfakes", "FaceSwap"}
    _assert_group_disjoint(items)
    split_of = {}
    for it in items:
        for vid in it.path.split("/")[-1][:-4].split("_"):
            split_of.setdefault(vid, set()).add(it.split)
    assert all(len(s) == 1 for s in split_of.values()), "a video id appears in two splits"


def test_default_adapter_reads_manifest(tmp_path):
    src = tmp_path / "source"
    rows = []
    for i in range(4):
        for label, method in ((0, "real"), (1, "sbi")):
            rel = f"images/{'fake' if label else 'real'}/p{i}.png"
            _img(src / rel, i)
            rows.append({"path": rel, "label": label, "split": ["train", "train", "valid", "test"][i],
                         "group": f"nba:p{i}", "source": "nba", "method": method, "sha256": "x"})
    with open(src / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for root in (tmp_path, src):
        items = load_items("dfd-default", root)
        assert len(items) == 8 and {it.method for it in items} == {"real", "sbi"}
        _assert_group_disjoint(items)
    with pytest.raises(DfdError, match="make data"):
        load_items("dfd-default", tmp_path / "source" / "images")


def test_assign_group_splits_is_disjoint_and_near_fractions():
    rng = np.random.default_rng(0)
    items = [MediaItem(f"f{i}", i % 2, f"g{rng.integers(0, 120)}", "s", "m") for i in range(1200)]
    assign_group_splits(items, seed=7)
    _assert_group_disjoint(items)
    share = {s: sum(it.split == s for it in items) / len(items) for s in ("train", "valid", "test")}
    assert abs(share["train"] - 0.7) < 0.06 and abs(share["valid"] - 0.15) < 0.05
