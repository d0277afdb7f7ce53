"""The talking-head world: seeded cartoon faces, each with its own audio, with ground truth, and an
analyzer that reads any clip of the family (faces, mouths, expressions, identity, lip sync).

    scene = sample_talk_scene(seed=0, frames=75, height=128, width=128)   # 3 s at 25 fps
    clip = make_clip(scene)          # frames uint8 [F, H, W, 3]; tracks [N, S], audio [S] at 16 kHz; truth
    result = analyze_talk(clip.frames, clip.tracks, fps=scene.fps)
    result.faces[0]["expression"], result.faces[0]["sync"]["offset"]

See docs/talking_world.md.
"""

from __future__ import annotations

from vitascope.synthetic.faces.analyze import TalkAnalysis, analyze_talk, delta_e, expression, identity_drift
from vitascope.synthetic.faces.audio import have_espeak, loudness, make_track, singing, speech
from vitascope.synthetic.faces.dataset import TalkingDataset
from vitascope.synthetic.faces.motion import FaceState, ground_truth, mix, states, tracks
from vitascope.synthetic.faces.render import TalkingClip, make_clip, render_faces
from vitascope.synthetic.faces.sync import cross_talk, envelopes, shifted_correlations, sync_scores
from vitascope.synthetic.faces.world import (
    AUDIO_KINDS,
    BACKGROUNDS,
    DEFAULT_FPS,
    EXPRESSIONS,
    HAIR_STYLES,
    HAIRS,
    SAMPLE_RATE,
    SKINS,
    FaceSpec,
    TalkScene,
    sample_talk_scene,
)

__all__ = [
    "AUDIO_KINDS",
    "BACKGROUNDS",
    "DEFAULT_FPS",
    "EXPRESSIONS",
    "HAIRS",
    "HAIR_STYLES",
    "SAMPLE_RATE",
    "SKINS",
    "FaceSpec",
    "FaceState",
    "TalkAnalysis",
    "TalkScene",
    "TalkingClip",
    "TalkingDataset",
    "analyze_talk",
    "cross_talk",
    "delta_e",
    "envelopes",
    "expression",
    "ground_truth",
    "have_espeak",
    "identity_drift",
    "loudness",
    "make_clip",
    "make_track",
    "mix",
    "render_faces",
    "sample_talk_scene",
    "shifted_correlations",
    "singing",
    "speech",
    "states",
    "sync_scores",
    "tracks",
]
