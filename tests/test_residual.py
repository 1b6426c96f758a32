"""cnnbook.residual: the plain and residual stacks of the chapter "From layers to networks".

The last tests assert the mechanism the chapter states: the initialisation, not depth, makes a
plain stack's gradient vanish; He initialisation makes a residual stack's gradient explode; a
branch that starts small cures it.
"""
import pytest
import torch

from cnnbook.residual import (Block, Fit, Variant, default_init_variance, degradation_verdict,
                              depth_effect, depth_sentence, describe_budget, format_ratio,
                              gradient_ratio, gradient_ratios, make_classifier, make_stack,
                              measure_fit, shrink_images, train_classifier, train_variants)



@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one thread is fastest, as on the page, and spares the other worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


PLAIN_DEFAULT = Variant(shortcut=False, init="pytorch")
PLAIN_HE = Variant(shortcut=False, init="he")
RESIDUAL_HE = Variant(shortcut=True, init="he")
RESIDUAL_SCALED = Variant(shortcut=True, init="he", cure="scaled branch")
RESIDUAL_ZERO_GAMMA = Variant(shortcut=True, init="he", batchnorm=True, cure="zero last gamma")


def test_a_plain_and_a_residual_block_differ_only_by_the_addition():
    torch.manual_seed(0)
    plain = Block(4, batchnorm=True, shortcut=False)
    residual = Block(4, batchnorm=True, shortcut=True)
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(residual(x), torch.relu(x + plain.branch(x)))
    assert torch.allclose(plain(x), torch.relu(plain.branch(x)))


def test_impossible_variants_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="Variant.cure='zero last gamma' needs batchnorm=True"):
        Variant(shortcut=True, cure="zero last gamma")
    with pytest.raises(ValueError, match="needs shortcut=True"):
        Variant(shortcut=False, cure="scaled branch")
    with pytest.raises(ValueError, match="Variant.init must be"):
        Variant(shortcut=False, init="xavier")


def test_the_zero_gamma_cure_makes_every_block_the_identity_on_a_non_negative_input():
    torch.manual_seed(0)
    stack = make_stack(RESIDUAL_ZERO_GAMMA, 3, 4)
    x = torch.rand(2, 4, 6, 6)
    assert torch.equal(stack(x), x)


def test_the_scaled_branch_cure_scales_by_one_over_the_square_root_of_the_depth():
    assert all(block.scale == pytest.approx(0.25) for block in make_stack(RESIDUAL_SCALED, 16, 2))
    assert all(block.scale == 1.0 for block in make_stack(RESIDUAL_HE, 16, 2))


def test_he_init_draws_with_variance_two_over_fan_in_and_the_default_one_third():
    torch.manual_seed(0)
    conv = make_stack(PLAIN_HE, 1, 32)[0].branch[0]
    assert float(conv.weight.detach().var()) * 32 * 9 == pytest.approx(2.0, rel=0.05)
    assert default_init_variance() == pytest.approx(1 / 3, rel=0.05)


def test_gradient_ratio_of_a_stack_that_doubles_its_input_is_two():
    x, upstream = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert gradient_ratio(lambda t: 2 * t, x, upstream) == pytest.approx(2.0)


def test_the_initialisation_not_depth_makes_a_plain_stack_lose_its_gradient():
    ratios = gradient_ratios([PLAIN_DEFAULT, PLAIN_HE], [16])
    assert ratios[(PLAIN_DEFAULT.label, 16)] < 1e-6
    assert 0.01 <= ratios[(PLAIN_HE.label, 16)] <= 100


def test_he_init_makes_a_residual_stack_explode_and_a_branch_that_starts_small_cures_it():
    ratios = gradient_ratios([RESIDUAL_HE, RESIDUAL_SCALED, RESIDUAL_ZERO_GAMMA], [16])
    assert ratios[(RESIDUAL_HE.label, 16)] > 10
    assert 0.5 < ratios[(RESIDUAL_SCALED.label, 16)] < 2
    assert ratios[(RESIDUAL_ZERO_GAMMA.label, 16)] == pytest.approx(1.0, abs=1e-9)


def test_a_classifier_maps_images_to_class_scores():
    model = make_classifier(RESIDUAL_ZERO_GAMMA, 2, 4, in_channels=1, image_size=7, classes=10)
    assert model(torch.randn(3, 1, 7, 7)).shape == (3, 10)


def two_blob_task(n=128, seed=0):
    """A learnable toy task: is the bright blob in the left or in the right half?"""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=generator)
    images = 0.1 * torch.randn(n, 1, 6, 6, generator=generator)
    for i, label in enumerate(labels):
        images[i, 0, 2:4, (1 if label == 0 else 4):(2 if label == 0 else 5)] += 2.0
    return images, labels


def test_training_a_shallow_network_fits_a_learnable_task_and_is_repeatable():
    train, test = two_blob_task(seed=0), two_blob_task(seed=1)
    variant = Variant(shortcut=False, batchnorm=True)
    fits = [train_variants([variant], [1], train, test, steps=40, channels=4, batch_size=32)
            for _ in range(2)]
    assert fits[0] == fits[1]
    fit = fits[0][(variant.label, 1)]
    assert fit.train_accuracy > 0.9 and fit.test_accuracy > 0.9


def test_train_classifier_lowers_the_training_loss():
    train, test = two_blob_task(seed=0), two_blob_task(seed=1)
    torch.manual_seed(0)
    model = make_classifier(PLAIN_HE, 1, 4, 1, 6, 2)
    before = measure_fit(model, train, test).train_loss
    assert train_classifier(model, train, test, steps=20, batch_size=32).train_loss < before


def test_depth_effect_treats_a_gap_within_the_margin_as_no_difference():
    shallow = Fit(0.90, 0.3, 0.85)
    assert depth_effect(shallow, Fit(0.20, 2.0, 0.2)) == "worse"
    assert depth_effect(shallow, Fit(0.93, 0.2, 0.85)) == "about as well"
    assert depth_effect(shallow, Fit(0.97, 0.1, 0.9)) == "better"


def test_the_depth_sentence_states_both_accuracies_and_the_verdict():
    sentence = depth_sentence("plain", 4, 16, Fit(0.95, 0.1, 0.9), Fit(0.254, 2.0, 0.25))
    assert sentence == ("the plain network fits 25.4% of its training images with 16 blocks, "
                        "against 95.0% with 4 blocks: depth made it worse.")


@pytest.mark.parametrize("plain, residual, expected", [
    ("worse", "about as well", "this is the degradation problem"),
    ("worse", "worse", "did not remove it"),
    ("about as well", "about as well", "does not show"),
    ("better", "worse", "does not show"),
])
def test_the_degradation_verdict_follows_the_two_depth_effects(plain, residual, expected):
    assert expected in degradation_verdict(plain, residual)


def test_describe_budget_names_the_data_size_and_budget():
    text = describe_budget("MNIST training digits", 1000, 500, 7, 100, 32, 0.05, 8, 0)
    for part in ("1,000 MNIST training digits", "7x7", "100 steps", "batches of 32",
                 "3.2 epochs", "seed 0", "500 test digits"):
        assert part in text


def test_format_ratio_reads_well_at_every_scale():
    assert [format_ratio(r) for r in (8.2e-15, 0.371, 1.0, 58.4, 243.0, 22_345.0)] == [
        "8.2e-15", "0.37", "1", "58", "240", "22,000"]


def test_shrink_images_standardises_with_the_training_statistics():
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    small, mean, std = shrink_images(images, 7)
    assert small.shape == (10, 1, 7, 7)
    assert float(small.mean()) == pytest.approx(0, abs=1e-5)
    again, _, _ = shrink_images(images, 7, mean, std)
    assert torch.equal(again, small)


def test_two_variants_are_measured_on_the_same_draws():
    # with no shortcut and no cure a variant's label differs but its stack is the same
    one = Variant(shortcut=False, init="he")
    same = gradient_ratios([one], [4], draws=2)
    both = gradient_ratios([PLAIN_DEFAULT, one], [4], draws=2)
    assert both[(one.label, 4)] == same[(one.label, 4)]


def test_a_zeroed_gamma_still_receives_a_gradient_so_training_can_turn_the_branch_on():
    torch.manual_seed(0)
    stack = make_stack(RESIDUAL_ZERO_GAMMA, 2, 4)
    stack(torch.rand(2, 4, 6, 6) + 0.1).sum().backward()
    assert all(block.branch[-1].weight.grad.abs().sum() > 0 for block in stack)
