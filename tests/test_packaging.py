"""The package ships every file privacy_kit needs at run time, not only its Python modules."""

import configparser
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
