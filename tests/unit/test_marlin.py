from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.common.marlin import (
    CheckpointMismatchError,
    MarlinConfig,
    MarlinEncoder,
    load_encoder,
    save_encoder,
    sincos_table,
    tiny_config,
)

pytestmark = pytest.mark.unit

# The encoder's state-dict entries in MARLIN's published checkpoints, read off ControlNet/MARLIN's
# src/marlin_pytorch/model/encoder.py (MarlinEncoder: patch_embedding, pos_embedding, blocks, norm),
# positional_embedding.py (the table is the `emb` parameter) and the Block/Attention/MLP/Linear
# modules (qkv without bias plus q_bias/v_bias since the released configs set qkv_bias=True; MLP
# layers wrap nn.Linear as `.linear`; no gamma_1/2 since init_values=0), with ViT-Small's shapes.
# In the checkpoint files every name carries the `encoder.` prefix.
D, HIDDEN, TOKENS = 384, 1536, 1568
MARLIN_TOP_KEYS = {
    "patch_embedding.projection.weight": (D, 3, 2, 16, 16),
    "patch_embedding.projection.bias": (D,),
    "pos_embedding.emb": (1, TOKENS, D),
    "norm.weight": (D,),
    "norm.bias": (D,),
}
MARLIN_BLOCK_KEYS = {
    "norm1.weight": (D,),
    "norm1.bias": (D,),
    "attn.q_bias": (D,),
    "attn.v_bias": (D,),
    "attn.qkv.weight": (3 * D, D),
    "attn.proj.weight": (D, D),
    "attn.proj.bias": (D,),
    "norm2.weight": (D,),
    "norm2.bias": (D,),
    "mlp.layers.0.linear.weight": (HIDDEN, D),
    "mlp.layers.0.linear.bias": (HIDDEN,),
    "mlp.layers.1.linear.weight": (D, HIDDEN),
    "mlp.layers.1.linear.bias": (D,),
}
MARLIN_SMALL_KEYS = MARLIN_TOP_KEYS | {
    f"blocks.{i}.{name}": shape for i in range(12) for name, shape in MARLIN_BLOCK_KEYS.items()
}

TINY = tiny_config()


def _frames(t: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(t, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_vit_small_state_dict_has_marlins_key_names_and_shapes() -> None:
    state = MarlinEncoder(MarlinConfig()).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == MARLIN_SMALL_KEYS
    assert sum(v.numel() for k, v in state.items() if k != "pos_embedding.emb") == 21_879_936


@pytest.mark.slow  # one real ViT-Small forward: ~1 s on an idle 2-core machine, several when shared
def test_vit_small_encodes_one_clip_into_a_vector_per_frame() -> None:
    with torch.inference_mode():
        per_frame = MarlinEncoder(MarlinConfig()).eval().frame_features(_frames(16))
    assert per_frame.shape == (16, D)
    assert torch.isfinite(per_frame).all()


def test_positional_table_is_sinusoidal() -> None:
    table = sincos_table(10, 8)
    assert table[3, 2] == pytest.approx(torch.sin(torch.tensor(3 / 10000 ** (2 / 8))).item(), abs=1e-6)
    assert table[3, 3] == pytest.approx(torch.cos(torch.tensor(3 / 10000 ** (2 / 8))).item(), abs=1e-6)


@pytest.mark.parametrize("t", [1, 2, 15, 16, 17, 37])
def test_frame_features_keep_one_row_per_frame(t: int) -> None:
    with torch.inference_mode():
        out = MarlinEncoder(TINY).eval().frame_features(_frames(t))
    assert out.shape == (t, TINY.embed_dim)
    assert torch.isfinite(out).all()


def test_frames_of_a_tubelet_share_a_vector_and_padding_stays_in_its_clip() -> None:
    encoder = MarlinEncoder(TINY).eval()
    frames = _frames(17)
    with torch.inference_mode():
        out = encoder.frame_features(frames)
        first_clip = encoder.frame_features(frames[:16])
        last_frame_alone = encoder.frame_features(frames[16:])
    assert torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])
    torch.testing.assert_close(out[:16], first_clip)
    torch.testing.assert_close(out[16:], last_frame_alone)


def test_random_weights_are_seeded_and_leave_the_global_rng_alone() -> None:
    before = torch.random.get_rng_state()
    a, b, c = MarlinEncoder(TINY, seed=0), MarlinEncoder(TINY, seed=0), MarlinEncoder(TINY, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert _same_state(a, b) and not _same_state(a, c)
    frames = _frames(20)
    with torch.inference_mode():
        assert torch.equal(a.eval().frame_features(frames), a.frame_features(frames))


def test_save_load_round_trip_is_strict_and_exact(tmp_path: Path) -> None:
    encoder = MarlinEncoder(TINY, seed=3).eval()
    path = save_encoder(encoder, tmp_path / "marlin.encoder.pt")
    assert all(k.startswith("encoder.") for k in torch.load(path, weights_only=True))
    loaded = load_encoder(path, TINY)
    assert _same_state(encoder, loaded)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    frames = _frames(5)
    with torch.inference_mode():
        assert torch.equal(encoder.frame_features(frames), loaded.frame_features(frames))


@pytest.mark.parametrize("prefix", ["encoder.", "marlin.encoder.", ""])
def test_encoder_part_of_full_and_training_checkpoints_loads(tmp_path: Path, prefix: str) -> None:
    encoder = MarlinEncoder(TINY, seed=4)
    state = {f"{prefix}{k}": v for k, v in encoder.state_dict().items()}
    if prefix:  # what a full or training checkpoint holds beside the encoder
        outer = prefix.removesuffix("encoder.")
        state |= {
            f"{outer}decoder.norm.weight": torch.ones(8),
            f"{outer}enc_dec_proj.weight": torch.ones(8, TINY.embed_dim),
            f"{outer}discriminator.layers.0.linear.weight": torch.ones(8, 8),
        }
    torch.save({"state_dict": state}, tmp_path / "marlin.ckpt")
    assert _same_state(load_encoder(tmp_path / "marlin.ckpt", TINY), encoder)


def test_a_checkpoint_of_another_architecture_is_named_key_by_key(tmp_path: Path) -> None:
    path = save_encoder(MarlinEncoder(TINY), tmp_path / "tiny.pt")
    with pytest.raises(CheckpointMismatchError, match=r"13 missing: blocks\.1\.attn\.proj\.bias"):
        load_encoder(path, replace(TINY, depth=2))
    with pytest.raises(
        CheckpointMismatchError, match=r"shape mismatches: .*norm\.bias: checkpoint \[32\] vs model \[64\]"
    ):
        load_encoder(path, replace(TINY, embed_dim=64))
    state = torch.load(path, weights_only=True) | {"encoder.head.weight": torch.ones(2)}
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(CheckpointMismatchError, match=r"1 unexpected: head\.weight"):
        load_encoder(tmp_path / "extra.pt", TINY)


def test_unreadable_or_absent_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_encoder(tmp_path / "absent.pt", TINY)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="not a readable"):
        load_encoder(tmp_path / "junk.pt", TINY)


def test_forward_gives_marlins_token_sequence_and_validates_shapes() -> None:
    with torch.inference_mode():
        tokens = MarlinEncoder(TINY).eval()(_frames(16).transpose(0, 1)[None])  # [1, 3, 16, 224, 224]
    assert tokens.shape == (1, TOKENS, TINY.embed_dim)
    with pytest.raises(ValueError, match=r"expected clips \[B, 3, 16, 224, 224\]"):
        MarlinEncoder(TINY)(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(ValueError, match="not a multiple of num_heads"):
        replace(TINY, num_heads=5)
