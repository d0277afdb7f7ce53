"""A caption file beside a video (clip.mp4 + clip.txt) becomes the clip's training prompt."""

from vitascope.curate.caption import builtin_caption, sidecar_caption, with_sidecar
from vitascope.curate.encode import _prompt


def test_sidecar_caption_is_the_prompt(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    rec = {"end": 2.0, "start": 0.0, "width": 64, "height": 64, "fps": 8.0}
    plain = builtin_caption(rec)
    assert with_sidecar(plain, video) == plain  # no clip.txt: the captioner's words
    (tmp_path / "clip.txt").write_text("  a purple circle\nmoving right on a black background \n")
    assert sidecar_caption(video) == "a purple circle moving right on a black background"
    cap = with_sidecar(plain, video)
    assert cap["Short Description"] == cap["Dense Description"] == sidecar_caption(video)
    assert cap["Camera Movement"] == plain["Camera Movement"]  # the measured fields stay
    assert _prompt({"caption": cap}) == "a purple circle moving right on a black background"
    (tmp_path / "clip.txt").write_text("\n \n")
    assert sidecar_caption(video) is None and with_sidecar(plain, video) == plain
