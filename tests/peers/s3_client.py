"""An S3 client we didn't write (boto3), for checking what illunare stored in an S3 server.

Usage:
  s3_client.py --port PORT --bucket NAME download PREFIX OUT_DIR   (every object under PREFIX/,
      stored under OUT_DIR by its key relative to PREFIX; prints the keys, one per line)
  s3_client.py --port PORT --bucket NAME upload FILE KEY
"""

import argparse
import os
import sys

import s3_common


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("command", choices=["download", "upload"])
    parser.add_argument("first")
    parser.add_argument("second")
    args = parser.parse_args()
    s3 = s3_common.client(args.port)
    if args.command == "upload":
        s3.upload_file(args.first, args.bucket, args.second)
        return 0
    prefix = args.first.strip("/") + "/"
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=args.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):]
            target = os.path.join(args.second, *relative.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            s3.download_file(args.bucket, obj["Key"], target)
            print(relative)
    return 0


if __name__ == "__main__":
    sys.exit(main())
