"""The graded parts of each assignment the trusted grader knows.

A part is named by the ``grade_id`` of its answer cell; its test cell is
``test_<part>`` and its hidden checks live in ``checks/test_<part>.py``.
``needs`` lists the parts whose answer cells must be loaded first (a backward
pass needs the student's own forward pass to build its cache).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str                 # grade_id of the answer cell
    defines: str              # the function or class the answer cell defines
    needs: tuple = ()         # parts whose answer cells are loaded before this one
    # Answer cells of naive layers should not lean on these (academic honesty flag).
    forbidden: tuple = ("torch", "fast_layers", "_fast(", "layer_utils", "scipy")

    @property
    def test_cell(self):
        return f"test_{self.name}"


ASSIGNMENTS = {
    "numpy_cnn": (
        Part("conv_forward_naive", "conv_forward_naive"),
        Part("conv_backward_naive", "conv_backward_naive", needs=("conv_forward_naive",)),
        Part("max_pool_forward_naive", "max_pool_forward_naive"),
        Part("max_pool_backward_naive", "max_pool_backward_naive", needs=("max_pool_forward_naive",)),
        Part("spatial_batchnorm_forward", "spatial_batchnorm_forward"),
        Part("spatial_batchnorm_backward", "spatial_batchnorm_backward",
             needs=("spatial_batchnorm_forward",)),
        # The network is meant to be built from the provided fast layers.
        Part("three_layer_convnet", "ThreeLayerConvNet", forbidden=("torch",)),
    ),
}


def assignment_parts(assignment):
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        raise KeyError(f"the autograder has no hidden checks for the assignment {assignment!r}; "
                       f"known assignments: {', '.join(sorted(ASSIGNMENTS))}") from None
