"""The web pages show yanks (also a stage's own yank of an inherited release) and what the
minimum release age holds back."""

from __future__ import annotations

from .test_pages import upload


def test_inherited_yank_shows_on_the_inheriting_stage_only(web):
    web.create_index("root/base")
    web.create_index("root/dev", bases="root/base")
    upload(web, "root/base", "oldie", "1.0", user="root", password=None)
    upload(web, "root/base", "oldie", "2.0", user="root", password=None)
    web.json("PATCH", "/root/dev/oldie/2.0", {"yanked": True, "reason": "bad"}, user="root")
    page = web.page("/root/dev/oldie")
    assert page.text.count("badge-yanked") == 1
    assert "badge-yanked" in web.page("/root/dev/oldie/2.0").text
    assert "badge-yanked" not in web.page("/root/base/oldie").text


def test_status_page_lists_what_is_held_back(web):
    web.create_index("root/cool", min_release_age="7d")
    filename = upload(web, "root/cool", "brandnew", "1.0", user="root", password=None)
    page = web.page("/+status")
    assert "Held back by a minimum release age" in page.text
    assert "min_release_age 7d of root/cool" in page.text
    assert filename in page.text
    # Through the index the release is invisible in the web pages too.
    project = web.page("/root/cool/brandnew")
    assert "No versions." in project.text and filename not in project.text
