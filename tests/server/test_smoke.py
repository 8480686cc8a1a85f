from pyshelf_server.testing import make_wheel


def test_upload_and_simple_page(shelf):
    shelf.create_user("alice")
    shelf.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("Hello.World", "1.0", requires_python=">=3.8")
    shelf.upload(
        "alice/dev",
        filename,
        content,
        name="Hello.World",
        version="1.0",
        user="alice",
        password="secret",
    )
    page = shelf.test.get("/alice/dev/+simple/hello-world/")
    assert filename in page.text
    assert 'data-requires-python="&gt;=3.8"' in page.text
