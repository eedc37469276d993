"""Tiny randomly initialised CLIP and Stable Diffusion models saved like hub checkpoints.

No CLIP or diffusion weights exist offline (../shared/MODELS.md), so the code paths that load
them by hub id or local folder are exercised on architecture-faithful models with small sizes,
saved with save_pretrained to a folder. The tokenizer is a real byte-level BPE CLIPTokenizer (same
algorithm and special tokens as CLIP's) built from a small vocab.json + merges.txt: mostly one
token per character. Tests that use these say `random_weights` in their names.
"""

from __future__ import annotations

import json
from pathlib import Path

MERGES = ["t h", "th e</w>", "a n", "an d</w>", "i n", "in g</w>", "o n", "e r"]
#: text hidden size of the tiny CLIP; the tiny UNet attends to text features of this width
TEXT_HIDDEN = 16


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable character table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def tiny_clip_tokenizer(folder: Path):
    """A real CLIPTokenizer (byte-level BPE, <|startoftext|>/<|endoftext|>) with a tiny vocab."""
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [
        *chars,
        *(c + "</w>" for c in chars),
        *(m.replace(" ", "") for m in MERGES),
        "<|startoftext|>",
        "<|endoftext|>",
    ]:
        vocab.setdefault(token, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    return transformers.CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77
    )


def _text_config(tokenizer) -> dict:
    vocab = tokenizer.get_vocab()
    eos = vocab["<|endoftext|>"]
    return dict(
        vocab_size=len(vocab),
        hidden_size=TEXT_HIDDEN,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=eos,
        pad_token_id=eos,
    )


def save_tiny_clip(folder: Path, tokenizer, seed: int = 0, image_size: int = 32) -> Path:
    """A random-init CLIPModel + CLIPProcessor in `folder`, loadable by from_pretrained."""
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.CLIPConfig(
        text_config=_text_config(tokenizer),
        vision_config=dict(
            image_size=image_size,
            patch_size=16,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
        ),
        projection_dim=8,
    )
    folder = Path(folder)
    transformers.CLIPModel(cfg).save_pretrained(folder)
    transformers.CLIPProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
        ),
        tokenizer=tokenizer,
    ).save_pretrained(folder)
    return folder


def tiny_sd_pipeline(tokenizer, seed: int = 0):
    """A random-init StableDiffusionPipeline built from configs (16x16 images, 8x8 latents)."""
    import diffusers
    import torch
    import transformers

    torch.manual_seed(seed)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        norm_num_groups=4,
        attention_head_dim=4,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        norm_num_groups=4,
        sample_size=16,
    )
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(**_text_config(tokenizer))
    )
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=diffusers.DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_sd(folder: Path, tokenizer, seed: int = 0) -> Path:
    """The tiny pipeline saved with save_pretrained: DiffusionPipeline.from_pretrained loads it."""
    folder = Path(folder)
    tiny_sd_pipeline(tokenizer, seed).save_pretrained(folder)
    return folder


def save_tiny_bert(folder, texts, max_positions: int = 64, seed: int = 0) -> str:
    """A 2-layer BERT classifier with random weights and a word-level tokenizer over `texts`,
    saved offline like a hub checkpoint (for fine-tuning plumbing tests)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = dict.fromkeys(w for t in texts for w in t.split())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(cfg).save_pretrained(folder)
    return str(folder)
