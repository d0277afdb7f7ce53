"""The Avatar release's LLaVA path: the image suffix, the legacy merge (image states in place, padding
embeddings zeroed) and the exact mask quirk handed to the DiT."""

import numpy as np
import torch

from vitascope.models.text.llava import expand_image_tokens
from vitascope.models.text.llava_avatar import SUFFIX, AvatarLlavaEncoder
from vitascope.models.text.tiny import tiny_llava

PROMPT = "a person talking"


def _img(seed):
    return np.random.default_rng(seed).integers(0, 256, (40, 30, 3), dtype=np.uint8)


def _enc(max_length=24):
    model, tok, _ = tiny_llava(seed=3)
    return AvatarLlavaEncoder(model, tok, max_length=max_length, hidden_state_skip_layer=1)


@torch.no_grad()
def test_states_follow_the_legacy_merge_and_the_mask_quirk():
    enc = _enc()
    n, crop, total = enc.n_image, enc.crop_start, enc.crop_start + 24
    ids, tok_mask = enc.tokenize([PROMPT])
    assert enc.tokenizer.decode(ids[0][tok_mask[0].bool()]).endswith(
        SUFFIX.replace("<image>", "") + "<image>"
    )
    out = enc.encode([PROMPT], _img(0))
    assert out.states.shape == (1, total + n - 1 - crop, enc.model.config.text_config.hidden_size)
    want_mask = torch.cat([tok_mask, torch.ones(1, n - 1, dtype=tok_mask.dtype)], 1)[:, crop:]
    assert torch.equal(
        out.mask.cpu(), want_mask
    )  # not the merged mask: image states past 350 read as padding
    assert int(out.mask.sum()) == int(tok_mask.sum()) + n - 1 - crop  # but the count is the true one

    # Oracle: transformers' own LLaVA forward on the expanded ids equals our merge once the padding embedding
    # row is zero (the only thing the legacy merge does differently).
    emb = enc.model.get_input_embeddings().weight
    emb[enc.pad_token_id] = 0
    x_ids, x_mask, x_pos = expand_image_tokens(ids, enc.image_token_id, n, enc.pad_token_id)
    core = enc.model.model
    ref = core(
        input_ids=x_ids,
        attention_mask=x_mask,
        position_ids=x_pos,
        pixel_values=enc.pixel_values(_img(0)),
        output_hidden_states=True,
    ).hidden_states[-2][:, crop:]
    got = enc.encode([PROMPT], _img(0)).states
    assert torch.allclose(got, ref, atol=1e-5)
    # image states sit after the prompt and suffix: the prompt's states do not depend on the image
    p = int((ids[0] == enc.image_token_id).nonzero()[0]) - crop
    other = enc.encode([PROMPT], _img(1)).states
    assert torch.allclose(got[:, :p], other[:, :p], atol=1e-6)
    assert not torch.allclose(got[:, p : p + n], other[:, p : p + n])
