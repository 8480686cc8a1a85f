"""Index configuration: defaults, coercion of string values, PATCH operations, deletion."""


def test_create_defaults_and_string_coercion(shelf):
    shelf.create_index("root/base")
    result = shelf.create_index(
        "root/dev", bases="root/base", volatile="False", acl_upload="root,:authenticated:"
    ).json
    assert result["type"] == "indexconfig"
    config = result["result"]
    assert config == {
        "type": "stage",
        "bases": ["root/base"],
        "volatile": False,
        "acl_upload": ["root", ":AUTHENTICATED:"],
        "acl_toxresult_upload": [":ANONYMOUS:"],
        "mirror_whitelist": [],
        "mirror_whitelist_inheritance": "intersection",
    }
    shown = shelf.json("GET", "/root/dev").json["result"]
    assert shown["projects"] == []
    assert "projects" not in shelf.json("GET", "/root/dev?no_projects=").json["result"]


def test_owner_is_default_uploader(shelf):
    shelf.create_user("alice")
    config = shelf.create_index("alice/dev", user="alice", password="secret").json["result"]
    assert config["acl_upload"] == ["alice"]


def test_create_errors(shelf):
    shelf.create_index("root/dev")
    assert (
        shelf.json("PUT", "/root/dev", {}, user="root", status=409).json["message"]
        == "index 'root/dev' exists"
    )
    message = shelf.json("PUT", "/root/x", {"foo": "bar"}, user="root", status=400).json["message"]
    assert message == (
        "indexconfig got unexpected keyword arguments: foo=bar; the options of a stage index "
        "are: acl_toxresult_upload, acl_upload, alternate_locations, bases, custom_data, "
        "description, drop_prereleases_after, exclude_newer, keep_versions, min_release_age, "
        "min_release_age_exempt, min_release_age_unknown, mirror_whitelist, "
        "mirror_whitelist_inheritance, title, tracks, trusted_publishers, volatile"
    )
    # devpi's way to a remote index, refused with pyshelf's.
    message = shelf.json("PUT", "/root/x", {"bases": "http://upstream.example/simple/"},
                         user="root", status=400).json["message"]
    assert message == (
        "'bases' are indexes of this server (USER/INDEX), not URLs like "
        "'http://upstream.example/simple/': create a mirror index of it (type=mirror "
        "mirror_url=http://upstream.example/simple/) and use that as a base"
    )
    assert (
        "does not exist"
        in shelf.json("PUT", "/root/x", {"bases": "root/nope"}, user="root", status=400).json[
            "message"
        ]
    )
    assert (
        "boolean"
        in shelf.json("PUT", "/root/x", {"volatile": "maybe"}, user="root", status=400).json[
            "message"
        ]
    )
    assert (
        "unknown index type"
        in shelf.json("PUT", "/root/x", {"type": "weird"}, user="root", status=400).json["message"]
    )
    shelf.json("PUT", "/root/bad:name", {}, user="root", status=400)
    shelf.json("PUT", "/nobody/x", {}, user="root", status=404)
    # pypi_whitelist is a legacy key that is silently dropped.
    assert (
        "pypi_whitelist"
        not in shelf.json("PUT", "/root/y", {"pypi_whitelist": "a"}, user="root").json["result"]
    )


def test_cycles_are_refused(shelf):
    shelf.create_index("root/a")
    shelf.create_index("root/b", bases="root/a")
    shelf.create_index("root/c", bases="root/b")
    response = shelf.json("PATCH", "/root/a", ["bases=root/c"], user="root", status=400)
    assert "cycle" in response.json["message"]
    shelf.json("PATCH", "/root/a", ["bases=root/a"], user="root", status=400)
    assert shelf.json("GET", "/root/a").json["result"]["bases"] == []


def test_patch_operations(shelf):
    shelf.create_index("root/dev")
    shelf.create_user("alice")
    config = shelf.json(
        "PATCH", "/root/dev", ["acl_upload+=alice", "mirror_whitelist=Six,requests"], user="root"
    ).json["result"]
    assert config["acl_upload"] == ["root", "alice"]
    assert config["mirror_whitelist"] == ["six", "requests"]
    config = shelf.json("PATCH", "/root/dev", ["acl_upload-=root", "title=Dev"], user="root").json[
        "result"
    ]
    assert config["acl_upload"] == ["alice"]
    assert config["title"] == "Dev"
    message = shelf.json(
        "PATCH", "/root/dev", ["acl_upload-=nobody"], user="root", status=400
    ).json["message"]
    assert message == "The 'acl_upload' setting doesn't have value 'nobody'"
    assert shelf.json("PATCH", "/root/dev", ["acl_upload-="], user="root", status=400).json[
        "message"
    ] == ("Default values can't be removed.")
    config = shelf.json("PATCH", "/root/dev", ["title-="], user="root").json["result"]
    assert "title" not in config
    shelf.json("PATCH", "/root/dev", ["type=mirror"], user="root", status=400)
    shelf.json("PATCH", "/root/dev", ["nonsense"], user="root", status=400)


def test_patch_with_a_whole_config_dict(shelf):
    shelf.create_index("root/dev")
    config = shelf.json("GET", "/root/dev").json["result"]
    config["volatile"] = "false"
    result = shelf.json("PATCH", "/root/dev", config, user="root").json["result"]
    assert result["volatile"] is False
    shelf.json("PATCH", "/root/dev", {"title": "x"}, user="root", status=200)
    shelf.json("PATCH", "/root/dev?error_on_noop", {"title": "x"}, user="root", status=400)


def test_delete_index(shelf):
    shelf.create_index("root/prod", volatile=False)
    shelf.create_index("root/dev")
    message = shelf.json("DELETE", "/root/prod?force=", user="root", status=403).json["message"]
    assert message == "index root/prod non-volatile, cannot delete"
    assert shelf.json("DELETE", "/root/dev", user="root", status=201).json == {
        "message": "index root/dev deleted"
    }
    shelf.json("GET", "/root/dev", status=404)


def test_deleting_a_base_drops_it_from_bases(shelf):
    shelf.create_index("root/base")
    shelf.create_index("root/dev", bases="root/base")
    shelf.json("DELETE", "/root/base", user="root", status=201)
    assert shelf.json("GET", "/root/dev").json["result"]["bases"] == []
