"""Architecture, the encode/decode contract, and save/load round trips."""
import json
from pathlib import Path

import pytest
import torch

from training import VAE, ModelLoadError, VAEConfig, load_model


def test_paper_architecture_shapes():
    m = VAE()
    convs = [layer for layer in m.encoder if isinstance(layer, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 3, 3, 2]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    deconvs = [layer for layer in m.decoder if isinstance(layer, torch.nn.ConvTranspose2d)]
    assert [d.kernel_size[0] for d in deconvs] == [2, 3, 4, 5] and all(d.stride == (2, 2) for d in deconvs)
    x = torch.rand(4, 1, 28, 28)
    assert m.encoder(x).shape == (4, 512)  # the 1×1×512 volume, flattened
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (4, 128)
    assert sum(p.numel() for p in m.parameters()) == 2_044_161


def test_decoder_output_shape_and_range():
    m = VAE()
    out = m.decode(torch.randn(6, 128) * 10)
    assert out.shape == (6, 1, 28, 28)
    assert out.min() >= 0 and out.max() <= 1
    # 28×28 comes from the layers, not from padding the image (with the paper's kernels the last row
    # and column get only the bias: test_field_of_view_is_what_the_gradients_show)
    h = m.decoder_input(torch.randn(2, 128))
    for layer in m.decoder:
        h = layer(h)
    assert h.shape[-2:] == (28, 28)


def test_configurable_latent_and_widths():
    m = VAE(VAEConfig(latent_dim=8, encoder_channels=(8, 16, 32, 64), decoder_channels=(32, 16, 8)))
    mu, _ = m.encode(torch.rand(2, 1, 28, 28))
    assert mu.shape == (2, 8) and m.decode(mu).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="cannot reach 28"):
        VAE(VAEConfig(decoder_kernels=(2, 3, 4, 7)))


@pytest.mark.parametrize("config, seen, painted", [
    (VAEConfig(), 23, 27),                                                    # the paper's kernels
    (VAEConfig(encoder_kernels=(4, 3, 4, 2), decoder_kernels=(2, 3, 4, 6)), 28, 28),
])
def test_field_of_view_is_what_the_gradients_show(config, seen, painted):
    torch.manual_seed(0)
    m = VAE(config)
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    m.encoder(x).sum().backward()
    reached = x.grad.abs().sum((0, 1)) > 0
    assert reached[:seen, :seen].all() and not reached[seen:].any() and not reached[:, seen:].any()
    with torch.no_grad():
        varies = m.decode(torch.randn(64, config.latent_dim))[:, 0].std(0) > 1e-6
    assert varies[:painted, :painted].all() and not varies[painted:].any() and not varies[:, painted:].any()
    assert (config.encoder_view(), config.decoder_painted()) == (seen, painted)
    assert ("all 28×28" in config.view_summary()) == (seen == painted == 28)


def test_decoder_summary_names_kernels_that_differ_from_the_paper():
    assert VAEConfig().decoder_summary() == "paper's (256×128×64)"
    assert VAEConfig(decoder_kernels=(2, 3, 4, 6)).decoder_summary() == "256×128×64 channels, kernels 2,3,4,6"


def test_encoder_kernels_that_shrink_the_image_to_nothing_are_rejected():
    with pytest.raises(ValueError, match=r"encoder kernels \(5, 5, 5, 5\) leave no map at all"):
        VAE(VAEConfig(encoder_kernels=(5, 5, 5, 5)))


def test_encoder_head_starts_as_the_papers_linear_heads_and_adds_its_relu_layers(tmp_path):
    torch.manual_seed(0)
    m = VAE(VAEConfig(encoder_head=(32,)))
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        h = m.encoder(x)
        mu, logvar = m.encode(x)
        torch.testing.assert_close(mu, m.to_mu(h))  # the added maps start at zero
        torch.testing.assert_close(logvar, m.to_logvar(h))
        m.head_to_mu.weight.normal_()
        m.head_to_logvar.weight.normal_()
        g = m.encoder_head[1](h.clamp(min=0)).clamp(min=0)  # ReLU → Linear(512, 32) → ReLU
        mu, logvar = m.encode(x)
        torch.testing.assert_close(mu, m.to_mu(h) + g @ m.head_to_mu.weight.T)
        torch.testing.assert_close(logvar, m.to_logvar(h) + g @ m.head_to_logvar.weight.T)
    assert m.to_mu.in_features == 512 and m.head_to_mu.bias is None
    # the added maps get a gradient at the first step, though they start at zero
    fresh = VAE(VAEConfig(encoder_head=(32,)))
    fresh.encode(x)[0].sum().backward()
    assert fresh.head_to_mu.weight.grad.abs().sum() > 0
    m.eval().save_pretrained(tmp_path, {"likelihood": "gaussian"})
    assert [type(layer).__name__ for layer in m.encoder_head] == ["ReLU", "Linear", "ReLU"]
    loaded = load_model(tmp_path)
    assert loaded.config.encoder_head == (32,)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x)[0], mu)
    assert (VAEConfig(encoder_head=(512,)).encoder_summary() ==
            "paper's linear heads on 512 conv features + ReLU → 512 → ReLU → heads that start at 0")
    assert VAEConfig().encoder_summary() == "paper's (linear heads on 512 conv features)"
    with pytest.raises(ValueError, match=r"encoder_head widths must be ≥ 1, got \[512, 0\]"):
        VAEConfig(encoder_head=(512, 0))


def test_configs_written_before_the_encoder_head_load_with_the_papers_linear_heads(tmp_path):
    torch.manual_seed(0)
    m = VAE().eval()
    m.save_pretrained(tmp_path, {"likelihood": "gaussian"})
    meta = json.loads((tmp_path / "model.json").read_text())
    del meta["architecture"]["encoder_head"]  # as every model.json written before it existed
    (tmp_path / "model.json").write_text(json.dumps(meta))
    loaded = load_model(tmp_path)
    assert loaded.config.encoder_head == () and len(loaded.encoder_head) == 0
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x)[0], m.to_mu(m.encoder(x)))


@pytest.mark.parametrize("field, value, flag", [
    ("decoder_refine", 16, "--decoder-refine"), ("decoder_head", [512], "--decoder-head"),
    ("encoder_head_residual", False, "--no-encoder-head-residual")])
def test_a_model_made_with_a_retired_option_is_refused_neutral_values_load(tmp_path, field, value, flag):
    from training.model import RETIRED_IN
    VAE(VAEConfig(encoder_head=(16,))).eval().save_pretrained(tmp_path, {"likelihood": "gaussian"})
    meta = json.loads((tmp_path / "model.json").read_text())
    # as the commit that retired them wrote every model.json: the neutral values of all three
    meta["architecture"].update(decoder_refine=0, decoder_head=[], encoder_head_residual=True)
    (tmp_path / "model.json").write_text(json.dumps(meta))
    assert load_model(tmp_path).config.encoder_head == (16,)
    meta["architecture"][field] = value
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError) as e:
        load_model(tmp_path)
    assert str(e.value) == (f"{tmp_path / 'model.json'}: invalid architecture ({field}: trained with {flag}, "
                            f"an experiment that was not adopted; commit {RETIRED_IN} still has its code)")


def test_the_shipped_model_records_every_retired_option_at_its_neutral_value():
    from training.model import RETIRED_ARCHITECTURE
    assets = Path(__file__).resolve().parents[1] / "assets"
    arch = json.loads((assets / "model.json").read_text())["architecture"]
    assert set(RETIRED_ARCHITECTURE) <= set(arch) and load_model(assets).config.encoder_head == (512, 512)


def test_reparameterization_statistics():
    mu, logvar = torch.full((20000, 2), 1.5), torch.full((20000, 2), 2 * torch.log(torch.tensor(0.5)))
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(z.mean() - 1.5) < 0.02 and abs(z.std() - 0.5) < 0.02


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    m = VAE().eval()
    m.save_pretrained(tmp_path, {"likelihood": "bernoulli"})
    loaded = load_model(tmp_path)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(m.encode(x)[0], loaded.encode(x)[0])
        assert torch.equal(m.decode(torch.ones(2, 128)), loaded.decode(torch.ones(2, 128)))
    assert loaded.info["likelihood"] == "bernoulli"


def test_load_rejects_bad_directories(tmp_path):
    with pytest.raises(ModelLoadError, match="not a directory"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="model.json: not found"):
        load_model(tmp_path)
    VAE().save_pretrained(tmp_path)
    # corrupt weights
    w = tmp_path / "model.safetensors"
    good = w.read_bytes()
    w.write_bytes(good[:1000])
    with pytest.raises(ModelLoadError, match="does not match the weights_sha256"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="not a valid safetensors"):
        load_model(tmp_path, check_hash=False)
    # JSON that does not describe the weights
    w.write_bytes(good)
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["architecture"]["latent_dim"] = 64
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="do not match the architecture"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(tmp_path)


def test_pickle_only_directory_is_refused(tmp_path):
    VAE().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(VAE().state_dict(), tmp_path / "vae.torch")
    with pytest.raises(ModelLoadError, match="pickle files are refused"):
        load_model(tmp_path)


def test_gemm_layers_equal_the_ordinary_convolutions():
    """The matmul path of the 1×1-output conv and the 1×1-input transposed conv changes nothing."""
    from training.model import GemmConv2d, GemmConvTranspose2d
    torch.manual_seed(0)
    conv, convt = GemmConv2d(16, 32, 2, stride=2), GemmConvTranspose2d(32, 8, 2, stride=2)
    ref, reft = torch.nn.Conv2d(16, 32, 2, stride=2), torch.nn.ConvTranspose2d(32, 8, 2, stride=2)
    ref.load_state_dict(conv.state_dict())
    reft.load_state_dict(convt.state_dict())
    x = torch.randn(5, 16, 2, 2, requires_grad=True)
    torch.testing.assert_close(conv(x), ref(x))
    z = torch.randn(5, 32, 1, 1)
    torch.testing.assert_close(convt(z), reft(z))
    g1, = torch.autograd.grad(conv(x).sum(), x)
    g2, = torch.autograd.grad(ref(x).sum(), x)
    torch.testing.assert_close(g1, g2)
    # other shapes take the ordinary path
    torch.testing.assert_close(conv(torch.randn(2, 16, 6, 6)).shape, torch.Size([2, 32, 3, 3]))


@pytest.mark.parametrize("cin, cout, k, size, pad, bias", [
    (256, 128, 3, 2, 0, True),    # the shipped decoder's small-map layer: strided matrix-multiply path
    (12, 5, 4, 1, 1, False),      # (1×1 input with output padding: also that path), no bias
    (64, 1, 5, 12, 1, True),      # the one-channel output layer: im2col path
    (128, 64, 4, 5, 0, True)])    # other shapes: oneDNN as in training
def test_inference_paths_of_the_transposed_convolution_equal_the_ordinary_one(cin, cout, k, size, pad, bias):
    from training.model import GemmConvTranspose2d
    torch.manual_seed(0)
    fast = GemmConvTranspose2d(cin, cout, k, stride=2, output_padding=pad, bias=bias)
    ref = torch.nn.ConvTranspose2d(cin, cout, k, stride=2, output_padding=pad, bias=bias)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(7, cin, size, size)
    with torch.no_grad():
        for layout in (torch.contiguous_format, torch.channels_last):
            y = fast(x.contiguous(memory_format=layout))
            assert y.shape == (7, cout, 2 * (size - 1) + k + pad, 2 * (size - 1) + k + pad)
            torch.testing.assert_close(y, ref(x), rtol=1e-4, atol=1e-4)
    # with gradients the layer is the ordinary one, bit for bit
    xg = x.clone().requires_grad_(True)
    assert torch.equal(fast(xg), ref(xg))
