"""Faults specific to channel dropout (``--reference Dropout2d``) and alpha dropout
(``--reference AlphaDropout``)."""
from . import Expect
from ._base import BlackBoxAlphaDropout, BlackBoxDropout


# -- channel dropout: compare with torch.nn.Dropout2d --------------------------------------

class ChannelPerElement(BlackBoxDropout):
    """A "Dropout2d" that drops single elements, like plain Dropout, not whole channels."""

    expect = Expect(fails="noise-shape", reference="Dropout2d")


class ChannelWrongAxis(BlackBoxDropout):
    """A "Dropout2d" written for channels-last data: one draw per (sample, last axis) on NCHW input."""

    expect = Expect(fails="noise-shape", reference="Dropout2d")

    def mask_shape(self, shape):
        return (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)


# -- alpha dropout: compare with torch.nn.AlphaDropout -------------------------------------

class AlphaWrongConstant(BlackBoxAlphaDropout):
    """Uses SELU's alpha (1.6733) where the saturation value lambda * alpha (1.7581) belongs."""

    expect = Expect(fails="forward", reference="AlphaDropout")

    alpha_prime = 1.6732632423543772


class AlphaBackwardAddsShift(BlackBoxAlphaDropout):
    """Backward adds the affine shift as if it depended on x: ``grad * noise + shift``."""

    expect = Expect(fails="backward", reference="AlphaDropout")

    def backward(self, grad):
        if self.noise is None:
            return grad
        return grad * self.noise + self.shift


class AlphaDropsToZero(BlackBoxDropout):
    """"Alpha" dropout that is plain inverted dropout: dropped units go to 0, not to SELU's
    saturation, and the variance is not restored."""

    expect = Expect(fails="forward", reference="AlphaDropout")
