"""Minimal S3 client for the local scripts (boto3 ships with moto in .venv).

usage: s3.py --endpoint URL create-bucket NAME
       s3.py --endpoint URL keys NAME
       s3.py --endpoint URL head NAME KEY [LINES]
       s3.py --endpoint URL parquet NAME KEY SQL   (SQL over the object as table t, in DuckDB)
"""

import argparse

import boto3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("command", choices=["create-bucket", "keys", "head", "parquet"])
    parser.add_argument("bucket")
    parser.add_argument("key", nargs="?")
    parser.add_argument("extra", nargs="?", default="4")
    args = parser.parse_args()
    client = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    if args.command == "create-bucket":
        client.create_bucket(Bucket=args.bucket)
    elif args.command == "keys":
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
            for item in page.get("Contents", []):
                print(item["Key"])
    elif args.command == "parquet":
        import tempfile

        import duckdb

        with tempfile.NamedTemporaryFile(suffix=".parquet") as file:
            client.download_fileobj(args.bucket, args.key, file)
            file.flush()
            duckdb.sql(f"CREATE VIEW t AS SELECT * FROM read_parquet('{file.name}')")
            duckdb.sql(args.extra).show(max_width=200)
    else:
        body = client.get_object(Bucket=args.bucket, Key=args.key)["Body"].read().decode()
        print("\n".join(body.splitlines()[: int(args.extra)]))


if __name__ == "__main__":
    main()
