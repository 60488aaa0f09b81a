"""A network laid out as "Neural Networks from Scratch" lays its ``Model`` out: a ``layers``
list of objects whose ``forward(inputs, training)`` sets ``self.output`` and whose
``backward(dvalues)`` sets ``self.dinputs``; weights (in, out); the dropout keeps ``1 - rate``
in ``self.rate``; a softmax output trained through a combined softmax + cross-entropy
gradient; ``Model.forward`` / ``loss.calculate`` / ``Model.backward`` as the training step."""
import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons, rng, weight_regularizer_l1=0, weight_regularizer_l2=0,
                 bias_regularizer_l1=0, bias_regularizer_l2=0):
        self.weights = 0.1 * rng.standard_normal((n_inputs, n_neurons))
        self.biases = 0.1 * rng.standard_normal((1, n_neurons))
        self.weight_regularizer_l1, self.weight_regularizer_l2 = weight_regularizer_l1, weight_regularizer_l2
        self.bias_regularizer_l1, self.bias_regularizer_l2 = bias_regularizer_l1, bias_regularizer_l2

    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        self.dweights = self.inputs.T @ dvalues
        self.dbiases = dvalues.sum(axis=0, keepdims=True)
        # the penalties' gradients, which the book's layer adds itself
        if self.weight_regularizer_l1 > 0:
            self.dweights += self.weight_regularizer_l1 * np.where(self.weights < 0, -1, 1)
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l1 > 0:
            self.dbiases += self.bias_regularizer_l1 * np.where(self.biases < 0, -1, 1)
        if self.bias_regularizer_l2 > 0:
            self.dbiases += 2 * self.bias_regularizer_l2 * self.biases
        self.dinputs = dvalues @ self.weights.T


class Layer_Dropout:
    def __init__(self, rate):
        self.rate = 1 - rate          # kept, as the book stores it

    def forward(self, inputs, training):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        self.binary_mask = np.random.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask

    def backward(self, dvalues):
        self.dinputs = dvalues * self.binary_mask


class Layer_Dropout_FreshMask(Layer_Dropout):
    """Planted fault: the backward draws a new mask."""

    def backward(self, dvalues):
        mask = np.random.binomial(1, self.rate, size=dvalues.shape) / self.rate
        self.dinputs = dvalues * mask


class Layer_Dropout_NoScale(Layer_Dropout):
    """Planted fault: kept units are not scaled by 1/(1-p)."""

    def forward(self, inputs, training):
        self.inputs = inputs
        if not training:
            self.output = inputs.copy()
            return
        self.binary_mask = np.random.binomial(1, self.rate, size=inputs.shape)
        self.output = inputs * self.binary_mask


class Activation_ReLU:
    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_ReLU_WrongDerivative(Activation_ReLU):
    """Planted fault: the derivative is taken from the output's sign the wrong way round."""

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs > 0] = 0


class Activation_Softmax:
    def forward(self, inputs, training):
        self.inputs = inputs
        e = np.exp(inputs - inputs.max(axis=1, keepdims=True))
        self.output = e / e.sum(axis=1, keepdims=True)


class Loss_CategoricalCrossentropy:
    def new_pass(self):
        self.accumulated_sum, self.accumulated_count = 0.0, 0

    def calculate(self, output, y, *, include_regularization=False):
        clipped = np.clip(output, 1e-7, 1 - 1e-7)
        sample_losses = -np.log(clipped[np.arange(len(output)), y])
        self.accumulated_sum += sample_losses.sum()      # needs new_pass() first, as in the book
        self.accumulated_count += len(sample_losses)
        return float(np.mean(sample_losses))


class Activation_Softmax_Loss_CategoricalCrossentropy:
    def __init__(self, divide=True):
        self.divide = divide

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        if self.divide:
            self.dinputs = self.dinputs / samples


class Model:
    def __init__(self):
        self.layers = []

    def add(self, layer):
        self.layers.append(layer)

    def set(self, *, loss, divide=True):
        self.loss = loss
        self.softmax_classifier_output = Activation_Softmax_Loss_CategoricalCrossentropy(divide)

    def forward(self, X, training):
        out = X
        for layer in self.layers:
            layer.forward(out, training)
            out = layer.output
        return out

    def backward(self, output, y):
        self.softmax_classifier_output.backward(output, y)
        self.layers[-1].dinputs = self.softmax_classifier_output.dinputs
        grad = self.layers[-1].dinputs
        for layer in reversed(self.layers[:-1]):
            layer.backward(grad)
            grad = layer.dinputs


def _model(dropout=Layer_Dropout, relu=Activation_ReLU, divide=True, sizes=(6, 16, 16, 4), rate=0.1):
    rng = np.random.default_rng(1)
    model = Model()
    model.add(Layer_Dense(sizes[0], sizes[1], rng))
    model.add(relu())
    model.add(dropout(rate))
    model.add(Layer_Dense(sizes[1], sizes[2], rng))
    model.add(Activation_ReLU())
    model.add(dropout(rate))
    model.add(Layer_Dense(sizes[2], sizes[3], rng))
    model.add(Activation_Softmax())
    model.set(loss=Loss_CategoricalCrossentropy(), divide=divide)
    return model


def correct():
    return _model()


def regularized():
    """As the book's dropout chapter builds it: L2 penalties on the first layer (5e-4), here an L1 too."""
    model = _model()
    first = model.layers[0]
    first.weight_regularizer_l2 = first.bias_regularizer_l2 = 5e-4
    first.weight_regularizer_l1 = 1e-3
    return model


def fresh_mask():
    return _model(dropout=Layer_Dropout_FreshMask)


def no_scale():
    return _model(dropout=Layer_Dropout_NoScale)


def relu_wrong():
    return _model(relu=Activation_ReLU_WrongDerivative)


def loss_not_divided():
    return _model(divide=False)


def big():
    """784-256-256-10, the size the speed figure is measured on."""
    return _model(sizes=(784, 256, 256, 10))
