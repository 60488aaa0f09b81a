"""Dropout inside torch's own layers can be injected: MultiheadAttention, TransformerEncoderLayer, LSTM.

MultiheadAttention (``need_weights=True``) calls ``F.dropout`` on the attention weights of
shape (N*H, L, S) and returns them after dropout, so npdrop's Dropout, given the same mask,
must reproduce them bit for bit from the undropped weights. TransformerEncoderLayer (4
draws: attention inside SDPA's math path, then three ``nn.Dropout``) and a 3-layer LSTM (2
draws between layers, from C++ ``at::dropout``) must consume exactly the masks given:
recorded draws replayed by injection reproduce torch's own output bit for bit, and
changing one mask changes the output. The LSTM's inter-layer dropout is also rebuilt from
single-layer LSTMs and npdrop's Dropout.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import npdrop  # noqa: E402
from npdrop.testing.inject import assert_same, inject_masks, record_masks  # noqa: E402

pytestmark = pytest.mark.prop("nn-injection")
P = 0.3


def _manual_seed(seed):
    torch.manual_seed(seed)


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64), ids=("float32", "float64"))
def test_multihead_attention_weights_dropout_is_npdrop_dropout(dtype, rng):
    _manual_seed(0)
    n, heads, length, dim = 2, 3, 5, 12
    mha = torch.nn.MultiheadAttention(dim, heads, dropout=P, batch_first=True).to(dtype)
    q = torch.randn(n, length, dim, dtype=dtype)
    mha.eval()  # grad is enabled and the weights require it, so this is the same (slow) path
    _, clean = mha(q, q, q, need_weights=True, average_attn_weights=False)
    keep = rng.random((n, heads, length, length)) >= P
    mha.train()
    with inject_masks([keep]) as injector:
        _, dropped = mha(q, q, q, need_weights=True, average_attn_weights=False)
    assert [s.shape for s in injector.sites] == [(n * heads, length, length)]
    ours = npdrop.Dropout(P)(clean.detach().numpy(), mask=keep)
    assert_same(ours, dropped, what="MultiheadAttention's dropped attention weights", variant="Dropout",
                p=P, dtype=ours.dtype, shape=ours.shape)


def _replay_reproduces(module, inputs, expected_draws):
    """Record torch's own draws, replay them by injection: identical output; change one: different."""
    with record_masks() as recording:
        reference = module(*inputs)
    reference = reference[0] if isinstance(reference, tuple) else reference
    assert len(recording.masks) == expected_draws, [str(s) for s in recording.sites]
    with inject_masks(recording.masks) as injector:
        replayed = module(*inputs)
    replayed = replayed[0] if isinstance(replayed, tuple) else replayed
    assert injector.used == expected_draws
    assert_same(replayed.detach().numpy(), reference, what=f"{type(module).__name__} replayed from recorded masks")
    for i in range(expected_draws):
        changed = [m.copy() for m in recording.masks]
        changed[i] = ~changed[i]
        with inject_masks(changed):
            other = module(*inputs)
        other = other[0] if isinstance(other, tuple) else other
        assert not torch.equal(other, reference), f"flipping mask {i} ({recording.sites[i]}) changed nothing"
    return recording


def test_transformer_encoder_layer_draws_are_all_injected():
    _manual_seed(1)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=P, batch_first=True).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    recording = _replay_reproduces(layer, (x,), expected_draws=4)
    assert [s.shape for s in recording.sites] == [(2, 2, 5, 5), (2, 5, 8), (2, 5, 16), (2, 5, 8)]


def test_lstm_inter_layer_dropout_is_injected_and_is_npdrop_dropout(rng):
    _manual_seed(2)
    lstm = torch.nn.LSTM(4, 6, num_layers=3, dropout=P).double()
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    _replay_reproduces(lstm, (x,), expected_draws=2)
    masks = [rng.random((5, 2, 6)) >= P for _ in range(2)]
    with inject_masks(masks):
        expected, _ = lstm(x)
    # The same network as three one-layer LSTMs with npdrop's Dropout in between.
    h = x
    for layer in range(3):
        single = torch.nn.LSTM(4 if layer == 0 else 6, 6).double()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").data.copy_(getattr(lstm, f"{name}_l{layer}").data)
        h, _ = single(h)
        if layer < 2:
            h = torch.from_numpy(npdrop.Dropout(P)(h.detach().numpy(), mask=masks[layer]))
    assert_same(h.detach().numpy(), expected, exact=False, rtol=1e-12, atol=1e-14,
                what="3-layer LSTM rebuilt with npdrop's Dropout between layers")
