"""cnnbook.training: the shared loop learns, is reproducible and records what it did."""
import numpy as np
import pytest
import torch

from cnnbook.data import ImageData, channel_stats
from cnnbook.devices import DeviceSettings, device_settings
from cnnbook.models import ConvBlockNet, ThreeLayerConvNet, ThreeLayerMLP
from cnnbook.training import (History, TrainConfig, _Batches, evaluate, final, fit, lr_factor,
                              mean_and_spread, run_seeds, seeded_model, summary_table,
                              train_seeds)

CPU = device_settings(torch.device("cpu"), verbose=False)


def bright_or_dark(n, seed, size=8):
    """Class 1 images are bright, class 0 dark, plus noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    base = 60 + 120 * labels.float()
    noise = torch.randn(n, 1, size, size, generator=g) * 30
    images = (base[:, None, None, None] + noise).clamp(0, 255).to(torch.uint8)
    return ImageData(images, labels, ("dark", "bright"), "mnist", "mnist", "test", "synthetic")


TRAIN, VAL = bright_or_dark(256, 0), bright_or_dark(128, 1)


def small_cnn():
    return ThreeLayerConvNet(1, 4, 4, 2, image_size=8)


MODELS = {
    "cnn": small_cnn,
    "mlp": lambda: ThreeLayerMLP(64, 16, 2),
    "blocks": lambda: ConvBlockNet(1, 2, 8, channels=(4, 8), pools=(2, 2), hidden=(8,),
                                   batchnorm=True),
}


def _loss(model, data):
    return evaluate(model, _Batches(data, CPU, *channel_stats(TRAIN.images)), CPU)[0]


@pytest.mark.parametrize("name", MODELS)
def test_one_step_lowers_the_loss_on_a_fixed_batch(name):
    batch = TRAIN.subset(range(64))
    model = seeded_model(MODELS[name], 0, CPU)
    before = _loss(model, batch)
    config = TrainConfig(epochs=1, batch_size=64, lr=0.01, weight_decay=0.0)
    history = fit(model, batch, batch, config, CPU, stats=channel_stats(TRAIN.images))
    assert len(history.train_loss) == 1 and history.images_seen == 64
    assert _loss(model, batch) < before


def test_the_loop_learns_a_simple_task():
    config = TrainConfig(epochs=4, batch_size=32, lr=0.05)
    history = run_seeds(small_cnn, TRAIN, VAL, config, seeds=[0], settings=CPU)[0]
    assert history.val_acc[-1] > 0.9
    assert history.train_loss[-1] < history.train_loss[0]


def test_same_seed_same_run_and_other_seed_other_run():
    config = TrainConfig(epochs=2, batch_size=32, lr=0.05, augment=lambda x, g: x.flip(3)
                         if torch.rand((), generator=g) < 0.5 else x)
    a, b, c = (run_seeds(MODELS["blocks"], TRAIN, VAL, config, [s], CPU)[0] for s in (3, 3, 4))
    assert a.train_loss == b.train_loss and a.val_acc == b.val_acc
    assert a.train_loss != c.train_loss


def test_train_seeds_returns_each_trained_model_with_its_history():
    config = TrainConfig(epochs=2, batch_size=32, lr=0.05)
    models, histories = train_seeds(small_cnn, TRAIN, VAL, config, [0, 1], CPU)
    assert [h.seed for h in histories] == [0, 1]
    for model, history in zip(models, histories):
        assert _loss(model, VAL) == pytest.approx(history.val_loss[-1], rel=1e-5)
    assert history.val_acc == run_seeds(small_cnn, TRAIN, VAL, config, [1], CPU)[0].val_acc


def test_history_records_every_epoch():
    config = TrainConfig(epochs=3, batch_size=50, lr=0.05, eval_train=True)
    history = fit(seeded_model(small_cnn, 0, CPU), TRAIN, VAL, config, CPU, seed=1, test=VAL)
    for values in (history.train_loss, history.train_acc, history.val_loss, history.val_acc,
                   history.clean_train_acc, history.clean_train_loss, history.epoch_time_s,
                   history.lr):
        assert len(values) == 3
    assert history.images_seen == 3 * 5 * 50  # 256 // 50 = 5 full batches per epoch
    assert all(t > 0 for t in history.epoch_time_s) and history.images_per_s > 0
    assert history.test_acc == history.val_acc[-1] and history.seed == 1
    assert 0 <= min(history.train_acc) and max(history.train_acc) <= 1


def test_augmentation_is_applied_to_every_training_batch():
    shapes = []

    def spy(x, generator):
        shapes.append(tuple(x.shape))
        assert isinstance(generator, torch.Generator)
        return x
    fit(seeded_model(small_cnn, 0, CPU), TRAIN, VAL,
        TrainConfig(epochs=2, batch_size=64, augment=spy), CPU)
    assert shapes == [(64, 1, 8, 8)] * 8


def test_time_budget_stops_training_early():
    config = TrainConfig(epochs=1000, batch_size=16, lr=0.01, time_budget_s=0.3,
                         schedule="onecycle")
    history = fit(seeded_model(small_cnn, 0, CPU), TRAIN, VAL, config, CPU)
    assert 1 <= len(history.val_acc) < 1000
    assert history.train_time_s < 2.0


def test_reduced_precision_path_runs_with_and_without_a_grad_scaler():
    for dtype in (torch.bfloat16, torch.float16):
        settings = DeviceSettings(torch.device("cpu"), dtype, channels_last=True, compile=False)
        history = fit(seeded_model(small_cnn, 0, settings), TRAIN, VAL,
                      TrainConfig(epochs=2, batch_size=32, lr=0.05), settings)
        assert np.isfinite(history.train_loss).all() and history.val_acc[-1] > 0.6


def test_learning_rate_schedules():
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("onecycle", 0.0) == pytest.approx(0.1)
    assert lr_factor("onecycle", 0.2) == pytest.approx(1.0)
    assert lr_factor("onecycle", 1.0) == pytest.approx(0.0)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert [lr_factor("step", p) for p in (0.4, 0.6, 0.9)] == [1.0, 0.1, 0.01]
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        lr_factor("linear", 0.5)


def test_schedule_sets_the_optimiser_rate():
    config = TrainConfig(epochs=4, batch_size=64, lr=0.1, schedule="step")
    history = fit(seeded_model(small_cnn, 0, CPU), TRAIN, VAL, config, CPU)
    # the rate of each epoch's last step: steps 3, 7, 11, 15 of 16
    assert history.lr == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_bad_configuration_is_rejected_at_once():
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam'"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig(schedule="warm")
    with pytest.raises(ValueError, match="at least 1"):
        TrainConfig(epochs=0)


def test_summaries_over_seeds():
    runs = [History(seed=s, val_acc=[0.5, acc], epoch_time_s=[1.0, 3.0], test_acc=acc)
            for s, acc in enumerate((0.8, 0.9))]
    assert final(runs, "val_acc").tolist() == [0.8, 0.9]
    assert final(runs, "epoch_time_s").tolist() == [2.0, 2.0]
    mean, spread = mean_and_spread([0.8, 0.9])
    assert mean == pytest.approx(0.85) and spread == pytest.approx(0.0707, abs=1e-4)
    assert mean_and_spread([0.3]) == (0.3, 0.0)
    table = summary_table({"net": runs}, metrics=("val_acc", "epoch_time_s"))
    assert table.loc["net", "val. acc."] == "85.0 ± 7.1 %"
    assert table.loc["net", "s / epoch"] == "2.00 ± 0.00"
    with pytest.raises(ValueError, match="no 'clean_train_acc'"):
        final(runs, "clean_train_acc")


def test_cifar_shaped_data_through_the_labs_pipeline():
    """Three-channel 32x32 images, the CIFAR-10 augmentation recipe and the
    corrected seed network: the path the labs take when CIFAR-10 is present."""
    from cnnbook.augment import Augment

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (96,), generator=g)
    images = torch.randint(0, 256, (96, 3, 32, 32), generator=g, dtype=torch.uint8)
    data = ImageData(images, labels, tuple("abcdefghij"), "cifar10", "cifar10", "torchvision", "")
    config = TrainConfig(epochs=2, batch_size=32, lr=0.01, schedule="onecycle", eval_train=True,
                         augment=Augment(crop_padding=4, flip=True, cutout_size=8))
    history = run_seeds(lambda: ConvBlockNet(batchnorm=True, dropout=0.3, width=0.25), data, data,
                        config, seeds=[0], settings=CPU, test=data)[0]
    assert len(history.val_acc) == 2 and np.isfinite(history.train_loss).all()
    assert len(history.gap_acc) == 2 and history.test_acc is not None


def test_augmented_batches_reach_the_model_in_channels_last_layout():
    settings = DeviceSettings(torch.device("cpu"), None, channels_last=True, compile=False)
    colour = ImageData(TRAIN.images.repeat(1, 3, 1, 1), TRAIN.labels, TRAIN.classes,
                       "cifar10", "cifar10", "test", "three channels")
    layouts = []
    model = seeded_model(lambda: ThreeLayerConvNet(3, 4, 4, 2, image_size=8), 0, settings)
    model.register_forward_pre_hook(lambda _m, args: layouts.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))

    def crop(x, _generator):  # advanced indexing returns an ordinary contiguous tensor
        return x[:, :, torch.arange(8)][:, :, :, torch.arange(8)]
    fit(model, colour, colour, TrainConfig(epochs=1, batch_size=64, augment=crop), settings)
    assert layouts and all(layouts)
