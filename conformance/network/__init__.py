"""The network check: a whole from-scratch network against a torch twin, step by step.

The layer check (``conformance/``) compares one dropout with torch's; this compares a whole
network: the same weights, the same dropout masks, the loss and every gradient over a few
SGD steps, and names the first layer that differs and why. One idea per module:

- :mod:`.kinds`: what each layer is, where its parameters and gradients live (names, shapes);
- :mod:`.drive`: convention A, an ordered container of layer objects and its training step;
- :mod:`.record`: the layers' methods wrapped, every call's arrays recorded on a tape;
- :mod:`.masks`: the keep-mask each dropout drew, and what its p means;
- :mod:`.twin`: torch's own modules replaying each call (masks injected, strict);
- :mod:`.losses`: torch's loss and reduction for the user's, found by probing;
- :mod:`.stepper`: K SGD steps compared item by item, each layer also alone;
- :mod:`.culprit`: the first differing layer and the fault it shows;
- :mod:`.served_side`: in the worker process, the network loaded, driven and described as plain data;
- :mod:`.remote`: in the judge, the network as that data, each call under the time limit;
- :mod:`.screen`: the one-screen summary, JSON and Markdown reports;
- :mod:`.cli`: ``npdrop-conform --network MODULE:NAME``.
"""
