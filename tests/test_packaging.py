"""The package ships every file privacy_kit needs at run time, not only its Python modules."""

import configparser
import re
from pathlib import Path

from tests.settings import BASE_DIR

PACKAGE = BASE_DIR / "privacy_kit"


def shipped_data_files():
    setup = configparser.ConfigParser()
    setup.read(BASE_DIR / "setup.cfg")
    patterns = setup["options.package_data"]["privacy_kit"].split()
    return {path for pattern in patterns for path in PACKAGE.glob(pattern)}


def test_every_template_catalog_and_marker_is_in_package_data():
    needed = {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    missing = sorted(str(Path(path).relative_to(PACKAGE)) for path in needed - shipped_data_files())
    assert missing == [], f"add these to [options.package_data] in setup.cfg: {missing}"


def test_readme_links_are_absolute_and_name_files_of_this_repository():
    """The package index shows README.md as the project page: a relative link breaks there."""
    setup = configparser.ConfigParser()
    setup.read(BASE_DIR / "setup.cfg")
    source = dict(
        line.split(" = ", 1) for line in setup["metadata"]["project_urls"].strip().splitlines()
    )["Source"]
    links = re.findall(r"\]\(([^)]+)\)", (BASE_DIR / "README.md").read_text())
    assert links, "README.md links its docs"
    relative = [link for link in links if not link.startswith(("https://", "http://"))]
    assert relative == [], f"make these links absolute ({source}/blob/main/...): {relative}"
    for link in links:
        if link.startswith(source):
            path = re.sub(r"^/(blob|tree)/main/", "", link[len(source):]).split("#", 1)[0]
            assert (BASE_DIR / path).exists(), f"README.md links {link}, but {path} is not in the repository"


def test_the_distribution_name_is_free_and_the_license_is_shipped():
    setup = configparser.ConfigParser()
    setup.read(BASE_DIR / "setup.cfg")
    assert setup["metadata"]["name"] == "django-privacy-kit"  # "privacy-kit" on the index is another project
    assert (BASE_DIR / setup["metadata"]["license_files"].strip()).is_file()
