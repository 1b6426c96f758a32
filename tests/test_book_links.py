"""scripts/book_ext/book_links: links to the published book become links inside the build,
and a link to a missing page or under another name than the page's title is reported."""
import sys
from pathlib import Path

from docutils import nodes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from book_ext.book_links import linked_page, localise_book_links, problem  # noqa: E402

BASE = "https://example.org/book/"
TITLES = {"book/chapters/conv_forward": "Convolution, forward"}


def test_only_links_under_the_configured_address_are_book_links():
    assert linked_page(BASE + "book/chapters/conv_forward.html", BASE) == \
        ("book/chapters/conv_forward", "")
    assert linked_page(BASE + "book/chapters/conv_forward.html#im2col", BASE) == \
        ("book/chapters/conv_forward", "#im2col")
    assert linked_page("https://example.org/other/x.html", BASE) is None
    assert linked_page(BASE + "x.html", "") is None


def test_a_link_must_name_an_existing_page_by_its_title():
    assert problem("book/chapters/conv_forward", "Convolution, forward", TITLES) is None
    assert "its title is 'Convolution, forward'" in problem(
        "book/chapters/conv_forward", "The convolution forward pass", TITLES)
    assert "not a page of this book" in problem("book/chapters/gone", "Gone", TITLES)


class FakeApp:
    class config:
        html_baseurl = BASE

    class env:
        titles = {name: nodes.title(text=title) for name, title in TITLES.items()}

    class builder:
        @staticmethod
        def get_relative_uri(source, target):
            return f"../{target.rsplit('/', 1)[-1]}.html"


def test_a_book_link_is_rewritten_to_a_relative_one_and_others_are_left_alone():
    doc = nodes.paragraph()
    doc += nodes.reference("", "Convolution, forward",
                           refuri=BASE + "book/chapters/conv_forward.html#im2col")
    doc += nodes.reference("", "PyTorch", refuri="https://pytorch.org/")
    localise_book_links(FakeApp, doc, "exercises/numpy_cnn/convolution")
    book, other = doc.findall(nodes.reference)
    assert book["refuri"] == "../conv_forward.html#im2col"
    assert other["refuri"] == "https://pytorch.org/"
