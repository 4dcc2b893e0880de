"""The torch wrapper of the ROC network: thinc's `PyTorchWrapper_v3` with a shim
whose optimizer step updates the weights in place, and whose passes run without
oneDNN.

thinc's `PyTorchShim.finish_update` hands each parameter to the optimizer as a numpy
view of its tensor, and then sets the parameter's `.data` to a new tensor made from
the returned array by DLPack. The new tensor keeps the array alive, the array keeps
the old tensor alive, and so on: every step adds one link per parameter to a chain
that is never freed. The links are small, but they are allocated in the middle of
each step's activations, so glibc can neither reuse the activations' freed memory
nor give it back: the demo's training grew by about 6 MB a step (7.8 GB after 800
steps), while the memory in use stayed flat (glibc's `mallinfo2`). thinc's
optimizers update the arrays in place, so the parameter needs no new tensor.

On CPU, torch runs some operators through oneDNN, which caches a primitive per input
shape (up to 1024 of them). Batches of docs have ever new shapes (pairs x
wordpieces), so the cache grows for hundreds of steps, and its long-lived allocations
land among the step's activations as the chain above did: the demo's training still
grew by about 1 MB a step, and with oneDNN off it stays flat at the same speed
(benchmarks/train_memory.py; see docs/memory-and-speed.md). The network's forward and
backward passes run with `torch.backends.mkldnn.enabled` off; torch falls
back to its own kernels (MKL's for matrix products). Other torch models in the
process are not affected.
"""
import contextlib
from typing import Any, Callable, Iterator, Optional, Tuple

from thinc.api import ArgsKwargs, Model, Optimizer, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.shims import PyTorchShim


class InPlaceShim(PyTorchShim):
    """A PyTorchShim whose optimizer step writes into the parameters' own memory, and
    whose passes run without oneDNN (see the module docstring)."""

    def predict(self, inputs: ArgsKwargs) -> Any:
        with _without_onednn():
            return super().predict(inputs)

    def begin_update(self, inputs: ArgsKwargs) -> Tuple[Any, Callable]:
        with _without_onednn():
            output, backprop = super().begin_update(inputs)

        def backprop_without_onednn(grads: ArgsKwargs) -> Any:
            with _without_onednn():
                return backprop(grads)

        return output, backprop_without_onednn

    def finish_update(self, optimizer: Optimizer) -> None:
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if not self._grad_scaler.found_inf:  # a step with overflowed gradients is skipped
                weights, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad))
                updated = xp2torch(weights, device=param.device)
                if updated.data_ptr() != param.data_ptr():  # an optimizer that returned a new array
                    param.data.copy_(updated)
            param.grad.zero_()
        self._grad_scaler.update()


@contextlib.contextmanager
def _without_onednn() -> Iterator[None]:
    """torch's oneDNN switch (torch.backends.mkldnn.enabled), off inside the context.
    (torch.backends.mkldnn.flags would also set TF32, and warn about it on every call.)"""
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def torch_wrapper(
    convert_inputs: Callable, convert_outputs: Callable, serialize_model: Callable, deserialize_model: Callable,
    module: Optional[Any] = None,
) -> Model:
    """`PyTorchWrapper_v3` (same forward, attrs and dims) around an InPlaceShim; the
    module may be set later (`shims[0]._model`), as the ROC model does in `init`."""
    shim = InPlaceShim(module, serialize_model=serialize_model, deserialize_model=deserialize_model)
    attrs = {"convert_inputs": convert_inputs, "convert_outputs": convert_outputs}
    return Model("pytorch", pytorch_forward, attrs=attrs, shims=[shim], dims={"nI": None, "nO": None})
