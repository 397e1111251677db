import numpy as np
import pytest
from PIL import Image

from dfd.errors import BadInputError
from dfd.io.images import load_image, media_kind


def _rgb(h=40, w=60):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_modes_convert_to_rgb_uint8(tmp_path):
    rgb = _rgb()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "g.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(tmp_path / "16.png")
    for name in ["a.png", "g.png", "c.jpg", "p.png", "16.png"]:
        arr = load_image(tmp_path / name)
        assert arr.dtype == np.uint8 and arr.shape == (40, 60, 3), name
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    # 16-bit scales down, not truncates: 0xFFFF -> 255, 0x8080 -> 128
    assert abs(int(load_image(tmp_path / "16.png")[..., 0].max()) - int(rgb[..., 0].max())) <= 1


def test_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba).save(tmp_path / "t.png")  # fully transparent red
    assert (load_image(tmp_path / "t.png") == 255).all()


def test_exif_orientation_applied(tmp_path):
    upright = _rgb(30, 50)
    img = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # stored 50x30
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "r.png", exif=exif.tobytes())
    assert load_image(tmp_path / "r.png").shape == (30, 50, 3)


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("empty.jpg", b"", "empty"),
        ("text.jpg", b"hello, not an image" * 10, "not an image"),
        ("page.png", b"<!DOCTYPE html><html><body>hi</body></html>", "not an image"),
    ],
)
def test_bad_files_have_clear_reasons(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(BadInputError, match=needle):
        load_image(p)


def test_truncated_tiny_bomb_folder_missing(tmp_path):
    Image.fromarray(_rgb(200, 200)).save(tmp_path / "x.jpg", quality=95)
    data = (tmp_path / "x.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError, match="truncated"):
        load_image(tmp_path / "t.jpg")
    Image.new("RGB", (1, 1)).save(tmp_path / "1.png")
    with pytest.raises(BadInputError, match="too small"):
        load_image(tmp_path / "1.png")
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(BadInputError, match="decompression bomb"):
        load_image(tmp_path / "big.png", max_pixels=1_000_000)
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(BadInputError, match="folder"):
        load_image(tmp_path / "dir.jpg")
    with pytest.raises(BadInputError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_media_kind():
    assert media_kind("a/b.JPG") == "image"
    assert media_kind("clip.mov") == "video"
    assert media_kind("notes.txt") is None


def test_media_kind_knows_phone_photos_and_more_containers():
    for name in ("IMG_0001.HEIC", "a.heif", "b.avif"):
        assert media_kind(name) == "image", name
    for name in ("clip.ts", "00001.MTS", "a.m2ts", "b.3gp", "c.flv", "d.ogv", "VTS_01_1.VOB"):
        assert media_kind(name) == "video", name


def test_broken_heic_and_avif_have_clear_reasons(tmp_path):
    import pillow_heif

    img = Image.fromarray(_rgb(200, 200))
    pillow_heif.from_pillow(img).save(tmp_path / "x.heic", quality=90)
    img.save(tmp_path / "x.avif", quality=80)
    heic = (tmp_path / "x.heic").read_bytes()
    (tmp_path / "t.heic").write_bytes(heic[: len(heic) // 2])
    with pytest.raises(BadInputError, match=r"^image file is truncated"):
        load_image(tmp_path / "t.heic")
    avif = (tmp_path / "x.avif").read_bytes()
    (tmp_path / "t.avif").write_bytes(avif[: len(avif) // 2])
    with pytest.raises(BadInputError, match="not an image"):
        load_image(tmp_path / "t.avif")
    (tmp_path / "text.heic").write_text("not a photo\n" * 10)
    with pytest.raises(BadInputError, match="not an image"):
        load_image(tmp_path / "text.heic")
    assert load_image(tmp_path / "x.heic").shape == (200, 200, 3)
