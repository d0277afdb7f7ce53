"""What the text encoders share: the output record and how a checkpoint folder is found and loaded.

Two folder layouts exist for the same weights:
- Tencent (`ckpts/`): the tokenizer sits inside the model folder (`text_encoder/`, `text_encoder_2/`,
  `text_encoder_i2v/` with `preprocessor_config.json` too).
- diffusers: the tokenizer is a sibling (`text_encoder/` + `tokenizer/`, `text_encoder_2/` + `tokenizer_2/`,
  and `image_processor/` for I2V).
`resolve_folders` accepts either, and also the checkpoint root (it then picks the named sub-folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vitascope.errors import ModelFolderError

if TYPE_CHECKING:
    import torch

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
_PROCESSOR_FILES = ("preprocessor_config.json",)


@dataclass(frozen=True)
class TextStates:
    """Per-token text features for the DiT.

    states: [B, S, D] hidden states (the LLM's third-from-last layer, prompt tokens only).
    mask:   [B, S] int64, 1 for real tokens and 0 for padding (padding is on the right).
    pooled: [B, D2] CLIP pooled vector, when the caller attached it.
    """

    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.states.ndim != 3 or self.mask.ndim != 2 or self.states.shape[:2] != self.mask.shape:
            raise ValueError(
                f"TextStates needs states [B,S,D] and mask [B,S] with the same B and S, got "
                f"{tuple(self.states.shape)} and {tuple(self.mask.shape)}"
            )
        if self.pooled is not None and (
            self.pooled.ndim != 2 or self.pooled.shape[0] != self.states.shape[0]
        ):
            raise ValueError(
                f"TextStates.pooled must be [B, D2] with B={self.states.shape[0]}, got {tuple(self.pooled.shape)}"
            )

    def with_pooled(self, pooled: torch.Tensor) -> TextStates:
        """The same states with the CLIP pooled vector attached (`CLIPEncoder.encode` output)."""
        return TextStates(self.states, self.mask, pooled)

    def to(self, device=None, dtype=None) -> TextStates:
        """Move to a device; `dtype` converts the float tensors only (the mask stays int64)."""
        pooled = None if self.pooled is None else self.pooled.to(device=device, dtype=dtype)
        return TextStates(self.states.to(device=device, dtype=dtype), self.mask.to(device=device), pooled)


def _has_any(folder: Path, names: tuple[str, ...]) -> bool:
    return any((folder / n).is_file() for n in names)


def resolve_folders(
    folder: str | Path,
    tokenizer_folder: str | Path | None,
    subfolders: tuple[str, ...],
    what: str,
) -> tuple[Path, Path]:
    """Return (model folder, tokenizer folder), raising ModelFolderError with a fix when either is missing.

    subfolders: names to look for when `folder` is a checkpoint root, in order of preference.
    """
    model_dir = Path(folder).expanduser()
    if not model_dir.is_dir():
        raise ModelFolderError(
            f"{what} folder {model_dir} does not exist; pass the {subfolders[0]}/ folder of a HunyuanVideo "
            "checkpoint (or the checkpoint root that contains it)"
        )
    if not (model_dir / "config.json").is_file():
        for sub in subfolders:
            if (model_dir / sub / "config.json").is_file():
                model_dir = model_dir / sub
                break
        else:
            raise ModelFolderError(
                f"{model_dir} has no config.json and no {'/ or '.join(subfolders)}/ sub-folder with one; "
                f"point at the folder that holds the {what} weights"
            )
    if tokenizer_folder is not None:
        tok_dir = Path(tokenizer_folder).expanduser()
        if not tok_dir.is_dir() or not _has_any(tok_dir, _TOKENIZER_FILES):
            raise ModelFolderError(
                f"tokenizer folder {tok_dir} has none of {', '.join(_TOKENIZER_FILES)}; "
                "pass the folder that holds the tokenizer files"
            )
        return model_dir, tok_dir
    candidates = [model_dir, model_dir.parent / model_dir.name.replace("text_encoder", "tokenizer")]
    for cand in candidates:
        if cand.is_dir() and _has_any(cand, _TOKENIZER_FILES):
            return model_dir, cand
    raise ModelFolderError(
        f"no tokenizer found for {what} in {model_dir} (Tencent layout) or {candidates[1]} (diffusers layout); "
        "copy the tokenizer files there or pass tokenizer_folder="
    )


def resolve_processor_folder(model_dir: Path, tok_dir: Path, processor_folder: str | Path | None) -> Path:
    """Folder with preprocessor_config.json: explicit, the model folder, a sibling image_processor/, or the tokenizer's."""
    if processor_folder is not None:
        cands = [Path(processor_folder).expanduser()]
    else:
        cands = [model_dir, model_dir.parent / "image_processor", tok_dir]
    for cand in cands:
        if cand.is_dir() and _has_any(cand, _PROCESSOR_FILES):
            return cand
    raise ModelFolderError(
        f"no preprocessor_config.json (the LLaVA image processor) in {', '.join(map(str, cands))}; "
        "copy it from the LLaVA checkpoint or pass image_processor_folder="
    )


def load_tokenizer(tok_dir: Path, what: str):
    """AutoTokenizer padding on the right (the official loader forces right padding)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), padding_side="right")
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot load the {what} tokenizer from {tok_dir}: {exc}") from exc
    if tokenizer.pad_token is None:
        raise ModelFolderError(
            f"the {what} tokenizer in {tok_dir} has no pad token; HunyuanVideo pads prompts to a fixed length, "
            "so set pad_token in its tokenizer_config.json"
        )
    return tokenizer


def load_model(cls, model_dir: Path, what: str, device, dtype):
    """`cls.from_pretrained` in eval mode without gradients, with load errors turned into ModelFolderError."""
    try:
        model = cls.from_pretrained(str(model_dir), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot load the {what} from {model_dir}: {exc}") from exc
    return model.to(device).eval().requires_grad_(False)
