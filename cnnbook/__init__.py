"""Shared code of the CNN Properties course book.

One importable home for everything the book chapters, the PyTorch labs and the
numpy exercises have in common, so that no notebook copies code from another.
"""
