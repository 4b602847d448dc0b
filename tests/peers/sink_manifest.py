"""The files a Parquet sink's directory holds, as its _manifest.json lists them (the way a
reader should find them: a file a crash left without a manifest entry is not listed)."""

import json
import os


def listed_files(directory):
    with open(os.path.join(directory, "_manifest.json")) as f:
        manifest = json.load(f)
    return [os.path.join(directory, *entry["path"].split("/")) for entry in manifest["files"]]
