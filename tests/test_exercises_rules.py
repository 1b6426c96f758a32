"""Every rule a release notebook states with "must" is graded: it names a visible and a hidden check.

The max-pooling notebook said a tied maximum's gradient goes "to the first one in row-major
order", and the mask version (every tied maximum gets it) still earned 10 of 10: no check had a
tie.  Here each sentence of a release notebook's markdown that says "must" is matched to one entry
of :data:`RULES`, which names the visible step that shows the student the rule
(``<function>:<step>`` of :data:`cnnbook.visible_checks.STEPS`) and the hidden checks that grade
it (``<part>::<check>`` of ``autograder/checks/test_<part>.py``, with points).  A new "must"
without an entry fails, and so does an entry whose sentence or checks are gone.
"""
import json
import re

import pytest

from autograder.checks.runner import check_weights
from cnnbook.visible_checks import STEPS

from test_exercises import PARTS, RELEASE

# (notebook, words of the sentence, visible steps, hidden checks)
RULES = [
    ("convolution", "the output must stay float32",
     ["conv_forward_naive:float32"], ["conv_forward_naive::test_float32"]),
    ("max_pooling", "your code must **add** these gradients",
     ["max_pool_backward_naive:random_cases"], ["max_pool_backward_naive::test_overlapping_windows_accumulate"]),
    ("max_pooling", "the gradient must go to the first one in row-major order",
     ["max_pool_backward_naive:ties"], ["max_pool_backward_naive::test_ties_go_to_the_first_maximum"]),
    ("spatial_batchnorm", "it must normalise with the running averages instead, and leave them as they are",
     ["spatial_batchnorm_forward:modes"], ["spatial_batchnorm_forward::test_test_mode_uses_running_averages"]),
    ("spatial_batchnorm", "every channel of the output must have mean 0 and standard deviation 1",
     ["spatial_batchnorm_forward:normalises"], ["spatial_batchnorm_forward::test_train_output"]),
    ("spatial_batchnorm", "test mode (which must use, and not change, the running averages)",
     ["spatial_batchnorm_forward:modes"], ["spatial_batchnorm_forward::test_test_mode_uses_running_averages"]),
    ("spatial_batchnorm", "your backward pass must then keep only the direct path",
     ["spatial_batchnorm_backward:test_mode"], ["spatial_batchnorm_backward::test_test_mode"]),
    ("convnet", "the loss must be almost",
     ["ThreeLayerConvNet:initial_loss"], ["three_layer_convnet::test_loss"]),
    ("convnet", "raising `reg` from 0 must add exactly",
     ["ThreeLayerConvNet:regularization"], ["three_layer_convnet::test_regularisation"]),
]
MUST = re.compile(r"\bmust\b", re.IGNORECASE)
# A sentence ends at . ! or ? before a space and what can start one (a capital, markup, maths, a list number).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*`$(\d])")


def must_sentences(notebook):
    """Every sentence of the release notebook's markdown that says "must", whitespace made single."""
    cells = json.loads((RELEASE / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    text = [" ".join("".join(cell["source"]).split()) for cell in cells if cell["cell_type"] == "markdown"]
    return [sentence for paragraph in text for sentence in SENTENCE_END.split(paragraph) if MUST.search(sentence)]


def test_the_walk_finds_the_rules_it_should():
    sentences = must_sentences("max_pooling")
    assert any("first one in row-major order" in sentence for sentence in sentences)
    assert not any("Pooling acts on each channel separately" in sentence for sentence in sentences)


@pytest.mark.parametrize("notebook", PARTS)
def test_every_must_of_a_notebook_has_exactly_one_rule(notebook):
    phrases = [phrase for nb, phrase, _, _ in RULES if nb == notebook]
    for sentence in must_sentences(notebook):
        matched = [phrase for phrase in phrases if phrase in sentence]
        assert len(matched) == 1, f"{notebook}: no rule (or several) for: {sentence!r}"


def test_every_rule_still_stands_in_its_notebook():
    for notebook, phrase, _, _ in RULES:
        assert sum(phrase in sentence for sentence in must_sentences(notebook)) == 1, (notebook, phrase)


@pytest.mark.parametrize("notebook, phrase, visible, hidden", RULES)
def test_every_rule_names_a_visible_step_and_a_graded_hidden_check(notebook, phrase, visible, hidden):
    assert visible and hidden
    for step_id in visible:
        function, step = step_id.split(":")
        assert step in [s.id for s in STEPS[function]], step_id
    for check_id in hidden:
        part, check = check_id.split("::")
        assert part in PARTS[notebook], check_id
        weights = {name: weight for name, _title, weight in check_weights(part)}
        assert weights.get(check, 0) > 0, f"{check_id} does not exist or earns no points"
