"""An S3 server from moto (not ours), holding a bucket filled from a local directory, for the
Parquet source's S3 test.

Usage: s3_server.py --port PORT --bucket NAME --upload DIR   (every file under DIR is stored
under its relative path as key; prints READY once the server answers)
"""

import argparse
import os
import sys
import time

import s3_common
from moto.server import ThreadedMotoServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--upload", required=True)
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    s3 = s3_common.client(args.port)
    s3.create_bucket(Bucket=args.bucket)
    for root, _, files in os.walk(args.upload):
        for name in files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, args.upload).replace(os.sep, "/")
            s3.upload_file(path, args.bucket, key)
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
