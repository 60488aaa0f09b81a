"""state_dict / load_state_dict, .npz save/load, and dtype casts of whole models."""
import io
import zipfile

import numpy as np
import pytest

from npdrop.container import MLP, Sequential
from npdrop.linear import Linear
from npdrop.serialization import load, save


def snapshot(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


def assert_unchanged(model, before):
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


# ----------------------------------------------------------- state_dict ----------
def test_state_dict_keys_are_copies():
    model = MLP([3, 4, 2], rng=0)
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.weight"][...] = 7.0
    assert not np.any(model[0].weight.data == 7.0)


def test_tied_parameter_listed_once_for_training_twice_in_state():
    shared = Linear(2, 2, rng=0)
    model = Sequential(shared, shared)
    assert len(model.parameters()) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64], ids=["float32-model", "float64-model"])
def test_load_casts_to_parameter_dtype_in_place(model_dtype):
    model = MLP([3, 2], rng=0, dtype=model_dtype)
    weight_array = model[0].weight.data
    state = {"0.weight": [[1, 2, 3], [4, 5, 6]], "0.bias": np.array([0.25, -0.5], dtype=np.float64)}
    result = model.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert model[0].weight.data is weight_array and weight_array.dtype == model_dtype
    np.testing.assert_array_equal(weight_array, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(model[0].bias.data, [0.25, -0.5])


def good_state():
    return MLP([3, 4, 2], rng=99).state_dict()


def with_changes(**changes):
    state = good_state()
    for key, value in changes.items():
        key = key.replace("_", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize(
    "state, match",
    [
        (with_changes(**{"2_bias": None}), r'missing key "2.bias"'),
        (dict(good_state(), extra=np.ones(1)), r'unexpected key "extra"'),
        (with_changes(**{"2_weight": np.ones((3, 4))}), r'"2.weight": expected shape \(2, 4\), got shape \(3, 4\)'),
        (with_changes(**{"2_bias": np.array(["a", "b"])}), r'"2.bias": expected a real numeric array'),
        (with_changes(**{"2_bias": [[1.0], [2.0, 3.0]]}), r'"2.bias": cannot convert'),
    ],
    ids=["missing-key", "unexpected-key", "shape-mismatch", "non-numeric", "ragged"],
)
def test_failed_load_changes_nothing(state, match):
    model = MLP([3, 4, 2], rng=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        model.load_state_dict(state)  # the valid "0.*" entries come first and must not be loaded
    assert_unchanged(model, before)


def test_non_strict_load_reports_and_loads_the_rest():
    model = MLP([3, 4, 2], rng=0)
    state = with_changes(**{"2_bias": None})
    state["extra"] = np.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[2].weight.data, state["2.weight"])
    with pytest.raises(ValueError, match="size mismatch"):
        model.load_state_dict({"0.weight": np.ones((1, 1))}, strict=False)


def test_load_rejects_non_mapping():
    with pytest.raises(TypeError, match="mapping"):
        MLP([2, 2], rng=0).load_state_dict([("0.weight", np.ones((2, 2)))])


# ------------------------------------------------------------- to(dtype) ----------
def test_to_double_and_float_keep_parameter_objects():
    model = MLP([3, 4, 2], rng=0)
    params = model.parameters()
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert all(a is b for a, b in zip(params, model.parameters()))
    y = model(np.ones((1, 3)))
    assert y.dtype == np.float64
    model.float()
    assert model(np.ones((1, 3), np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        model.to(np.int32)


# ------------------------------------------------------------ save / load ----------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_npz_round_trip(tmp_path, dtype):
    source = MLP([3, 5, 2], "tanh", p=0.1, rng=1, dtype=dtype).eval()
    path = tmp_path / "weights"  # no extension: the name is kept as given
    save(source, path)
    assert path.exists()
    state = load(path)
    assert list(state) == list(source.state_dict()) and all(v.dtype == dtype for v in state.values())
    target = MLP([3, 5, 2], "tanh", p=0.1, rng=2, dtype=dtype).eval()
    target.load_state_dict(state)
    x = np.random.default_rng(3).normal(size=(4, 3)).astype(dtype)
    np.testing.assert_array_equal(target(x), source(x))


def test_save_to_file_object_and_mapping():
    buffer = io.BytesIO()
    save({"a": np.arange(3), "file": np.float32(1.5)}, buffer)  # "file" would clash with np.savez
    buffer.seek(0)
    state = load(buffer)
    np.testing.assert_array_equal(state["a"], [0, 1, 2])
    assert state["file"] == np.float32(1.5)


def test_save_refuses_non_numeric_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(ValueError, match='"names"'):
        save({"w": np.ones(2), "names": np.array(["x", "y"])}, path)
    assert list(tmp_path.iterdir()) == []


def valid_npz_bytes():
    buffer = io.BytesIO()
    save(MLP([3, 4, 2], rng=0), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [b"definitely not an archive" * 10, valid_npz_bytes()[:300], valid_npz_bytes()[:-40]],
    ids=["garbage", "truncated-head", "truncated-tail"],
)
def test_load_corrupt_file_names_it(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.npz"):
        load(path)


def test_load_corrupt_member_names_the_key(tmp_path):
    path = tmp_path / "flipped.npz"
    data = bytearray(valid_npz_bytes())
    second_npy = data.index(b"\x93NUMPY", data.index(b"\x93NUMPY") + 1)  # "0.bias", the 2nd member
    data[second_npy + 128 + 3] ^= 0xFF  # a byte of its array data, after the 128-byte .npy header
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r'flipped.npz.*"0.bias"'):
        load(path)


@pytest.mark.parametrize(
    "array, match",
    [(np.array([{"a": 1}], dtype=object), 'cannot read array "obj".*allow_pickle=False'), (np.array(["a", "b"]), '"obj".*dtype <U1')],
    ids=["object-array", "string-array"],
)
def test_load_non_numeric_array_names_file_and_key(tmp_path, array, match):
    path = tmp_path / "odd.npz"
    np.savez(path, w=np.ones(2), obj=array)
    with pytest.raises(ValueError, match="odd.npz") as info:
        load(path)
    assert info.match(match)


def test_load_plain_npy_and_missing_file(tmp_path):
    path = tmp_path / "single.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")
    assert zipfile.is_zipfile(io.BytesIO(valid_npz_bytes()))
