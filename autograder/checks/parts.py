"""The graded parts of each assignment the trusted grader knows.

A part is named by the ``grade_id`` of its answer cell; its test cell is
``test_<part>`` and its hidden checks live in ``checks/test_<part>.py``.
``needs`` lists the parts whose answer cells must be loaded first (a backward
pass needs the student's own forward pass to build its cache).

``cnnbook_modules`` lists the modules of the course package that the part's sandbox provides
(``autograder/isolation/course_package.py``): a naive layer gets only ``exercise_checks``, so
one built on the course's own implementations (``fast_layers``, ``conv_math``, the sandwich
layers, however imported) earns nothing; the network gets the layers it is built from.  Each
list holds what its modules import (``tests/test_autograder_isolation_package.py`` checks it).
"""
from dataclasses import dataclass


NAIVE_MODULES = ("exercise_checks",)
# The network is meant to be built from the provided layers.
NETWORK_MODULES = ("exercise_checks", "fast_layers", "layer_utils", "layers")


@dataclass(frozen=True)
class Part:
    name: str                 # grade_id of the answer cell
    defines: str              # the function or class the answer cell defines
    needs: tuple = ()         # parts whose answer cells are loaded before this one
    cnnbook_modules: tuple = NAIVE_MODULES
    # Answer cells should not lean on these (academic honesty flag).  The sandbox cannot hide
    # them (the checks' own environment has them), so a flag is the only evidence.
    forbidden: tuple = ("torch", "scipy")

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
        Part("three_layer_convnet", "ThreeLayerConvNet", cnnbook_modules=NETWORK_MODULES, forbidden=("torch",)),
    ),
}


def assignment_parts(assignment):
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        raise KeyError(f"the autograder has no hidden checks for the assignment {assignment!r}; "
                       f"known assignments: {', '.join(sorted(ASSIGNMENTS))}") from None
