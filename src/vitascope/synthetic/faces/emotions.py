"""Emotion reference images: one face of the talking-head world, mouth closed, showing one expression.

`vitascope generate --emotion happy` uses the bundled PNGs (src/vitascope/assets/emotions/, written by
scripts/make_emotion_assets.py from `render_emotion`); training can draw the same kind of reference for any
identity with `render_emotion(expression, face=...)`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vitascope.synthetic.faces.world import EXPRESSIONS, FaceSpec, TalkScene, _check

# The bundled references' character: a plain, centred face (any identity would do; this one is fixed).
REFERENCE_FACE = FaceSpec(centre=(0.5, 0.52), head_h=0.72, skin="light", hair="brown", hair_style="cap")
REFERENCE_SIZE = 128
REFERENCE_BACKGROUND = "white"


def render_emotion(
    expression: str,
    size: int = REFERENCE_SIZE,
    face: FaceSpec = REFERENCE_FACE,
    background: str = REFERENCE_BACKGROUND,
) -> np.ndarray:
    """uint8 [size, size, 3]: `face` with `expression`, silent (mouth closed), eyes open, at rest."""
    from vitascope.synthetic.faces.motion import FaceState
    from vitascope.synthetic.faces.render import render_faces

    _check(expression, EXPRESSIONS, "expression")
    face = dataclasses.replace(face, expression=expression, audio="silent")
    scene = TalkScene((face,), background, frames=1, height=size, width=size)
    centre = np.array([[face.centre[0] * size, face.centre[1] * size]])
    state = FaceState(centre, np.zeros(1), np.ones(1), np.zeros(1))
    return render_faces(scene, [state])[0]
