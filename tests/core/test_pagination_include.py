"""The shared previous/next links every paged list includes (templates/_pagination.html)."""

from django.core.paginator import Paginator
from django.template.loader import render_to_string


def _render(page_number: int, **extra) -> str:
    page = Paginator(list(range(25)), 10).page(page_number)
    return render_to_string("_pagination.html", {"page": page, **extra})


def test_a_middle_page_links_both_ways_keeping_the_filters():
    html = _render(2, query="range=7d&model=yolo")
    assert 'href="?range=7d&amp;model=yolo&amp;page=1">← Previous</a>' in html
    assert 'href="?range=7d&amp;model=yolo&amp;page=3">Next →</a>' in html
    assert "Page 2 of 3" in html


def test_without_filters_the_link_is_just_the_page():
    html = _render(1, query="")
    assert 'href="?page=2"' in html
    assert "← Previous" not in html


def test_newest_first_lists_name_the_directions():
    html = _render(3, query="days=7", previous="← Newer", next="Older →")
    assert ">← Newer</a>" in html
    assert "Older →" not in html  # the last page has no next link


def test_a_single_page_draws_no_navigation():
    page = Paginator([1, 2], 10).page(1)
    assert "pagination" not in render_to_string("_pagination.html", {"page": page, "query": "x=1"})
