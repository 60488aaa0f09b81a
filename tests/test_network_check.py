"""The network check on the networks of ``tests/networks``: each verdict, the first differing
layer and the fault named, and the command's exit statuses."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from conformance.adapters.usercode import AdapterError  # noqa: E402
from conformance.network.cli import main, parser, run  # noqa: E402

NNFS, DLFS, CS231N, NUMPYML = (f"tests.networks.{m}_style" for m in ("nnfs", "dlfs", "cs231n", "numpyml"))
LOSS = f"--loss {NUMPYML}:CrossEntropy"

#: (network, extra options, verdict, first differing layer, faults named)
CASES = [
    (f"{NNFS}:correct", "", "PASS", None, []),
    (f"{NNFS}:regularized", "", "PASS", None, []),
    (f"{NNFS}:fresh_mask", "", "FAIL", "layers[5] Layer_Dropout_FreshMask", ["fresh-mask-backward"]),
    (f"{NNFS}:no_scale", "", "FAIL", "layers[2] Layer_Dropout_NoScale", ["no-scale"]),
    (f"{NNFS}:relu_wrong", "", "FAIL", "layers[1] Activation_ReLU_WrongDerivative", ["layer-backward"]),
    (f"{NNFS}:loss_not_divided", "", "FAIL", "loss", ["loss-not-mean"]),
    (f"{DLFS}:correct", "", "FAIL", "layers['Dropout1'] Dropout", ["original-form"]),
    (f"{DLFS}:correct", "--form original", "PASS", None, []),
    (f"{CS231N}:correct", "", "PASS", None, []),
    (f"{CS231N}:with_l2", "", "PASS", None, []),
    (f"{CS231N}:loss_not_divided", "", "FAIL", "loss", ["loss-not-mean"]),
    (f"{CS231N}:fresh_mask", "", "FAIL", "#5 dropout_forward", ["fresh-mask-backward"]),
    (f"{NUMPYML}:build", LOSS, "FAIL", "[2] DropoutWrapper", ["scale-after-layer", "wrapper-unmasked-gradient"]),
    (f"{NUMPYML}:build_fixed", LOSS, "PASS", None, []),
    ("examples.check_network:build", "", "PASS", None, []),
    ("tests.networks.plain_style:build", "--loss tests.networks.plain_style:MSE", "PASS", None, []),
    ("tests.networks.plain_style:npdrop_float32", "", "PASS", None, []),
    ("tests.networks.mytorch_style:build", "--loss tests.networks.mytorch_style:CrossEntropyLoss", "PASS", None, []),
    ("tests.networks.mytorch_style:backward_unscaled", "--loss tests.networks.mytorch_style:CrossEntropyLoss", "FAIL",
     "layers[2] DropoutBackwardUnscaled", ["backward-no-scale"]),
]


def _check(spec: str, extra: str = ""):
    return run(parser().parse_args(["--network", spec] + extra.split()))


@pytest.mark.parametrize("spec, extra, verdict, first, faults", CASES,
                         ids=[f"{c[0].split('.')[-1]}{'+' + c[1].split()[0] if c[1] else ''}" for c in CASES])
def test_verdict_first_layer_and_cause(spec, extra, verdict, first, faults):
    report, status = _check(spec, extra)
    assert (report["verdict"], status) == (verdict, 0 if verdict == "PASS" else 1), report["diagnoses"]
    assert report["culprit"] == first
    assert [d["id"] for d in report["diagnoses"]] == faults
    if verdict == "PASS":   # and every comparison was made, none skipped
        stages = {i["stage"] for i in report["items"]}
        assert {"loss", "forward", "backward", "eval", "local forward", "local backward", "local loss"} <= stages
        assert not [i for i in report["items"] if i["status"] == "n/a"]
        linear = [l["name"] for l in report["layers"] if l["kind"].startswith(("linear", "dropout("))]
        compared = {i["layer"] for i in report["items"] if i["what"] == "weight grad" and i["stage"] == "backward"}
        assert set(linear) <= compared


@pytest.mark.parametrize("spec, extra", [(c[0], c[1]) for c in CASES if c[2] == "PASS"],
                         ids=[c[0].split(".")[-1] for c in CASES if c[2] == "PASS"])
def test_each_step_trains_the_users_weights(spec, extra):
    from conformance.network.remote import RemoteNetwork
    from conformance.network.stepper import Check, Options

    args = parser().parse_args(["--network", spec] + extra.split())
    net = RemoteNetwork(spec, args.loss)
    try:
        check = Check(net, Options(steps=2, form_original=args.form == "original")).run()
    finally:
        net.close()
    for first, second in zip(check.calls[1], check.calls[2]):
        if "weight" in first.params:   # W -= lr * dW reached the arrays the next forward used
            assert not np.array_equal(first.params["weight"], second.params["weight"]), first.layer.name


def test_every_dropout_layer_with_the_fault_is_listed():
    report, _ = _check(f"{NNFS}:fresh_mask")
    assert report["diagnoses"][0]["layers"] == ["layers[5] Layer_Dropout_FreshMask", "layers[2] Layer_Dropout_FreshMask"]
    assert "zero pattern differs from the forward's mask" in report["diagnoses"][0]["evidence"]


def test_original_form_passes_with_its_loss_epsilon_called_harmless():
    report, _ = _check(f"{DLFS}:correct", "--form original")
    assert any("log(y + 1e-7)" in h or "epsilon" in h for h in report["harmless"])


def test_float32_code_is_judged_with_float32_tolerances():
    report, _ = _check("tests.networks.plain_style:npdrop_float32")
    assert report["dtype"] == "float32"
    assert max(i["rel"] for i in report["items"]) > 1e-9   # float32 rounding was seen, and judged ok


def test_an_l2_term_in_the_loss_is_found_on_the_model():
    report, _ = _check(f"{CS231N}:with_l2")
    assert "0.5 * 0.1 * sum(W**2) (model.reg)" in report["loss"]


def test_p_read_as_keep_when_the_keep_fraction_says_so():
    report, _ = _check(f"{NNFS}:correct")
    drops = [l for l in report["layers"] if l["kind"] == "dropout"]
    assert [round(l["p"], 12) for l in drops] == [0.1, 0.1]
    assert all("read as the keep probability" in l["p_source"] for l in drops)


def test_p_given_by_layer_label_or_dropout_index():
    report, status = _check(f"{NNFS}:correct", "--p layers[2]=0.1 --p 1=0.1")
    assert status == 0 and [l["p_source"] for l in report["layers"] if l["kind"] == "dropout"] == ["--p", "--p"]
    report, status = _check(f"{NNFS}:correct", "--p layers[2]=0.3")
    assert status == 1 and report["culprit"] == "layers[2] Layer_Dropout"


def test_a_list_without_a_loss_is_one_usage_error_naming_the_hint(capsys):
    assert main(["--network", f"{NUMPYML}:build"]) == 4
    err = capsys.readouterr().err
    assert "--loss MODULE:NAME" in err and "5 layers" in err


def test_unknown_layer_kind_is_a_usage_error():
    class Mystery:
        def forward(self, x):
            return x

    with pytest.raises(AdapterError, match="cannot tell what"):
        from conformance.network.drive import Network
        Network([Mystery()])


def test_reports_written(tmp_path, capsys):
    status = main(["--network", f"{NNFS}:no_scale", "--report-json", str(tmp_path / "r.json"),
                   "--report-md", str(tmp_path / "r.md")])
    assert status == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == "FAIL" and report["diagnoses"][0]["id"] == "no-scale"
    assert "no-scale" in (tmp_path / "r.md").read_text()
    assert "likely cause: no-scale" in capsys.readouterr().out


def test_a_call_past_the_time_limit_ends_the_run_with_status_6(tmp_path):
    (tmp_path / "slow_net.py").write_text(
        "import time\nimport numpy as np\n"
        "class Dense:\n    def __init__(self):\n        self.W = np.ones((3, 2)); self.b = np.zeros(2)\n"
        "    def forward(self, x):\n        time.sleep(30)\n        return x @ self.W + self.b\n"
        "    def backward(self, g):\n        return g @ self.W.T\n"
        "class MSE:\n    def forward(self, pred, y):\n        return ((pred - y) ** 2).mean()\n"
        "    def backward(self, pred, y):\n        return 2 * (pred - y) / pred.size\n"
        "def build():\n    return [Dense()]\n")
    done = subprocess.run([sys.executable, "-m", "npdrop_conform.cli", "--network", "slow_net:build", "--loss",
                           "slow_net:MSE", "--call-timeout", "1", "--log-dir", str(tmp_path / "log")], cwd=tmp_path,
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.getcwd()), timeout=120)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "TIMED OUT" in done.stdout and "Dense.forward" in done.stdout
