"""PyTorch models used by the chapters and the labs.

The first two are the seed notes' CNN-vs-MLP pair, kept architecturally
identical to the notes (so the numbers in the book refer to the same networks)
but with the input size made a parameter instead of a hard-coded 32x32.
"""
from torch import nn
import torch.nn.functional as F


class ThreeLayerConvNet(nn.Module):
    """conv5x5 - relu - conv3x3 - relu - linear, 'same' padding throughout.

    Both convolutions keep the spatial size (pad 2 for 5x5, pad 1 for 3x3), so
    the classifier sees ``channel_2 * image_size**2`` features.
    """

    def __init__(self, in_channel, channel_1, channel_2, num_classes, image_size=32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, 5, stride=1, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, stride=1, padding=1)
        self.classifier = nn.Linear(channel_2 * image_size * image_size, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.classifier(x.flatten(start_dim=1))


class ThreeLayerMLP(nn.Module):
    """linear - relu - linear - relu - linear on the flattened image."""

    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(start_dim=1)))
        x = F.relu(self.fc2(x))
        return self.classifier(x)
