"""Tests for fervlm.backbones: our configs, the weights rule, strict loading, freezing."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch

from fervlm.backbones import (
    CONFIG_DIR,
    Backbone,
    create_backbone,
    our_model_names,
    register_model_configs,
    save_checkpoint,
    use_channels_last,
)


def test_our_configs_are_registered_idempotently() -> None:
    names = our_model_names()
    assert {"fervlm-tiny", "fervlm-quick", "fervlm-tiny-rn"} <= set(names)
    before = open_clip.list_models()
    assert register_model_configs() == names
    assert open_clip.list_models() == before
    assert set(names) <= set(before)


@pytest.mark.parametrize("name", our_model_names())
def test_every_config_builds_and_runs(name: str) -> None:
    bb = create_backbone(name)
    cfg = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    assert isinstance(bb, Backbone) and bb.name == name and bb.weights == "none"
    assert bb.embed_dim == cfg["embed_dim"] and bb.image_size == cfg["vision_cfg"]["image_size"]
    assert bb.context_length == cfg["text_cfg"]["context_length"] == 32
    x = torch.randn(3, 3, bb.image_size, bb.image_size)
    img = bb.encode_image(x)
    txt = bb.encode_text(["a photo of a happy face", "a sad face"])
    assert img.shape == (3, bb.embed_dim) and txt.shape == (2, bb.embed_dim)
    torch.testing.assert_close(img.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(bb.encode_text(bb.tokenize(["a sad face"])), txt[1:])
    assert bb.encode_image(x, normalize=False).norm(dim=1).sub(1).abs().max() > 1e-3
    assert bb.visual is bb.model.visual
    # The preprocess transforms produce the tower's input size.
    from PIL import Image

    im = Image.new("RGB", (120, 90), (128, 64, 32))
    assert bb.preprocess_val(im).shape == (3, bb.image_size, bb.image_size)
    assert bb.preprocess_train(im).shape == (3, bb.image_size, bb.image_size)


@pytest.mark.parametrize("name", ["ViT-B-32", "RN50"])
def test_standard_architectures_random_init_without_download(name: str) -> None:
    bb = create_backbone(name, weights="none")
    assert bb.embed_dim == open_clip.get_model_config(name)["embed_dim"] and bb.context_length == 77
    assert bb.image_size == 224 and bb.weights == "none"


def test_local_file_round_trip(tmp_path) -> None:
    a = create_backbone("fervlm-tiny")
    path = save_checkpoint(a, tmp_path / "w.pt")
    b = create_backbone("fervlm-tiny", weights=str(path))
    assert b.weights == str(path)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    # A fresh random model differs, so the equality above is not vacuous.
    c = create_backbone("fervlm-tiny")
    assert not torch.equal(c.model.visual.conv1.weight, a.model.visual.conv1.weight)


def test_resnet_tower_is_channels_last_and_gives_the_same_embeddings(tmp_path) -> None:
    bb = create_backbone("fervlm-tiny-rn")
    conv = bb.visual.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    x = torch.randn(4, 3, bb.image_size, bb.image_size)
    got = bb.encode_image(x)
    # The same weights stored in the default layout give the same embeddings (a layout, not a model, change).
    bb.visual.to(memory_format=torch.contiguous_format)
    torch.testing.assert_close(bb.model.encode_image(x, normalize=True), got, atol=1e-5, rtol=1e-4)
    use_channels_last(bb.model)
    # The checkpoint holds plain contiguous tensors whatever the tower's layout.
    state = torch.load(save_checkpoint(bb, tmp_path / "rn.pt"), weights_only=True)
    assert all(v.is_contiguous() for v in state.values())
    # A ViT tower is left alone.
    vit = create_backbone("fervlm-tiny")
    assert vit.visual.conv1.weight.is_contiguous()


def test_mismatching_checkpoint_is_an_error(tmp_path) -> None:
    path = save_checkpoint(create_backbone("fervlm-tiny-rn"), tmp_path / "rn.pt")
    with pytest.raises(ValueError, match=r"rn\.pt.*does not match backbone 'fervlm-tiny'"):
        create_backbone("fervlm-tiny", weights=path)
    # A state dict missing one key is refused as well (strict loading, never half-loaded).
    sd = create_backbone("fervlm-tiny").model.state_dict()
    sd.pop("visual.proj")
    torch.save(sd, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match=r"visual\.proj"):
        create_backbone("fervlm-tiny", weights=tmp_path / "partial.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        create_backbone("fervlm-tiny", weights=tmp_path / "junk.pt")


def test_bad_weights_and_names_list_options() -> None:
    with pytest.raises(ValueError, match=r"'not-a-tag'.*no local file.*'openai'.*laion2b_s34b_b79k"):
        create_backbone("ViT-B-32", weights="not-a-tag")
    with pytest.raises(ValueError, match=r"Valid tags for 'fervlm-tiny': \(none\)"):
        create_backbone("fervlm-tiny", weights="openai")
    with pytest.raises(ValueError, match=r"unknown backbone architecture 'ViT-Q-99'.*fervlm-tiny"):
        create_backbone("ViT-Q-99")


def test_local_dir_schema(tmp_path) -> None:
    a = create_backbone("fervlm-tiny")
    cfg = {"model_cfg": open_clip.get_model_config("fervlm-tiny")}
    (tmp_path / "open_clip_config.json").write_text(json.dumps(cfg))
    save_checkpoint(a, tmp_path / "open_clip_pytorch_model.bin")
    b = create_backbone(f"local-dir:{tmp_path}")
    assert b.embed_dim == 64 and b.context_length == 32
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    with pytest.raises(ValueError, match="weights from the folder"):
        create_backbone(f"local-dir:{tmp_path}", weights="openai")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "open_clip_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="no checkpoint"):
        create_backbone(f"local-dir:{empty}")


def test_text_frozen_by_default_logit_scale_trainable() -> None:
    bb = create_backbone("fervlm-tiny")
    assert bb.logit_scale.requires_grad
    assert all(not p.requires_grad for _, p in bb.text_parameters())
    assert all(p.requires_grad for p in bb.visual.parameters())
    trainable = sum(p.numel() for p in bb.visual.parameters()) + bb.logit_scale.numel()
    assert bb.num_parameters(trainable_only=True) == trainable
    assert bb.num_parameters() == sum(p.numel() for p in bb.model.parameters())
    # Gradients reach the image tower and the logit scale, never the text tower.
    txt = bb.encode_text(["a happy face", "a sad face"])
    img = bb.encode_image(torch.randn(2, 3, 64, 64))
    (bb.logit_scale.exp() * img @ txt.T).logsumexp(1).sum().backward()
    assert bb.logit_scale.grad is not None and bb.visual.conv1.weight.grad is not None
    assert all(p.grad is None for _, p in bb.text_parameters())

    free = create_backbone("fervlm-tiny", freeze_text=False)
    assert all(p.requires_grad for _, p in free.text_parameters())


def test_partial_visual_unlock() -> None:
    bb = create_backbone("fervlm-tiny", unlocked_visual_groups=1)
    trainable = {n for n, p in bb.visual.named_parameters() if p.requires_grad}
    assert trainable == {"proj"}
    bb2 = create_backbone("fervlm-tiny", unlocked_visual_groups=2)
    t2 = {n for n, p in bb2.visual.named_parameters() if p.requires_grad}
    assert "proj" in t2 and "ln_post.weight" in t2 and "transformer.resblocks.1.mlp.c_fc.weight" in t2
    assert not any(n.startswith("transformer.resblocks.0.") for n in t2) and "conv1.weight" not in t2
    assert bb2.logit_scale.requires_grad
    locked = create_backbone("fervlm-tiny", unlocked_visual_groups=0)
    assert not any(p.requires_grad for p in locked.visual.parameters())
    rn = create_backbone("fervlm-tiny-rn", unlocked_visual_groups=0)
    assert not any(p.requires_grad for p in rn.visual.parameters())
    with pytest.raises(ValueError, match="ModifiedResNet"):
        create_backbone("fervlm-tiny-rn", unlocked_visual_groups=1)
    with pytest.raises(ValueError, match=">= 0"):
        create_backbone("fervlm-tiny", unlocked_visual_groups=-1)


def test_no_random_init_warning_when_none_or_our_own_file_is_asked_for(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.WARNING)
    open_clip.create_model_and_transforms("fervlm-tiny", pretrained=None, pretrained_text=False)
    assert "No pretrained weights loaded" in caplog.text  # open_clip's notice, which we drop
    caplog.clear()
    path = save_checkpoint(create_backbone("fervlm-tiny", weights=None), tmp_path / "own.pt")
    create_backbone("fervlm-tiny", weights=str(path))
    assert "No pretrained weights loaded" not in caplog.text
    assert not logging.getLogger().filters  # the filter is gone after the call
    logging.warning("No pretrained weights loaded: still logged outside create_backbone")
    assert "still logged" in caplog.text
