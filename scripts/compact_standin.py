"""Writes the curated layer of a copy of the bucket as the compact function's contract says.

A stand-in for the compact Lambda in the Athena reader test, so that the views and queries
of template.yaml can be tried over Parquet written to that contract: for every day under
DATA/raw/quotes/year=YYYY/month=MM/day=DD/ (the CSV objects, read as RFC 4180), one
silver object DATA/curated/quotes/year=YYYY/month=MM/day=DD/quotes_YYYY-MM-DD.parquet
and one gold object DATA/curated/ohlc_1d/.../ohlc_1d_YYYY-MM-DD.parquet.

  silver  one row per (cmc_id, quote_currency, last_updated) of the day, the earliest
          slot_at winning; sorted by cmc_id, quote_currency, slot_at.
  gold    one row per (cmc_id, quote_currency): the day's silver rows ordered by
          (last_updated, slot_at); open the first price, close the last, high and low;
          symbol, volume_24h and market_cap of the last; samples = rows (distinct
          updates); first_update, last_update; bucket_start = the day at 00:00 UTC.

The columns, their order and types are the Glue tables' in template.yaml (QuotesCuratedTable,
Ohlc1dTable): timestamp -> INT64 TIMESTAMP(MILLIS, isAdjustedToUTC), bigint -> INT64,
double -> DOUBLE, string -> UTF-8 BYTE_ARRAY; ZSTD.

usage: compact_standin.py --template template.yaml --data DIR
"""

import argparse
import csv
import datetime as dt
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

RAW = re.compile(r"^raw/quotes/year=(\d{4})/month=(\d{2})/day=(\d{2})/[^/]+\.csv$")
ARROW_TYPES = {
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, …) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CloudFormationLoader.add_multi_constructor("!", _any_tag)


def schema(resources, table):
    columns = resources[table]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    return pa.schema([(c["Name"], ARROW_TYPES[c["Type"]]) for c in columns])


def typed(text, kind):
    if text == "":
        return None
    if kind == pa.int64():
        return int(text)
    if kind == pa.float64():
        return float(text)
    if pa.types.is_timestamp(kind):
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
    return text


def raw_days(data):
    days = {}
    for root, _dirs, files in os.walk(data):
        for name in files:
            key = os.path.relpath(os.path.join(root, name), data).replace(os.sep, "/")
            match = RAW.match(key)
            if match:
                day = dt.date(*(int(g) for g in match.groups()))
                days.setdefault(day, []).append(os.path.join(root, name))
    return days


def silver(files, silver_schema):
    earliest = {}
    for path in sorted(files):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            assert header == silver_schema.names, f"{path}: header {header}"
            for fields in reader:
                row = {
                    field.name: typed(text, field.type)
                    for field, text in zip(silver_schema, fields, strict=True)
                }
                key = (row["cmc_id"], row["quote_currency"], row["last_updated"])
                if key not in earliest or row["slot_at"] < earliest[key]["slot_at"]:
                    earliest[key] = row
    return sorted(
        earliest.values(), key=lambda r: (r["cmc_id"], r["quote_currency"], r["slot_at"])
    )


def gold(day, rows):
    series = {}
    for row in rows:
        series.setdefault((row["cmc_id"], row["quote_currency"]), []).append(row)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    candles = []
    for (cmc_id, currency), updates in sorted(series.items()):
        updates.sort(key=lambda r: (r["last_updated"], r["slot_at"]))
        first, last = updates[0], updates[-1]
        prices = [r["price"] for r in updates]
        candles.append(
            {
                "cmc_id": cmc_id,
                "symbol": last["symbol"],
                "quote_currency": currency,
                "bucket_start": start,
                "open": first["price"],
                "high": max(prices),
                "low": min(prices),
                "close": last["price"],
                "samples": len(updates),
                "volume_24h": last["volume_24h"],
                "market_cap": last["market_cap"],
                "first_update": first["last_updated"],
                "last_update": last["last_updated"],
            }
        )
    return candles


def write(data, dataset, day, rows, table_schema):
    directory = os.path.join(
        data, "curated", dataset, f"year={day:%Y}", f"month={day:%m}", f"day={day:%d}"
    )
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{dataset}_{day:%Y-%m-%d}.parquet")
    table = pa.Table.from_pylist(rows, schema=table_schema)
    pq.write_table(table, path, compression="zstd")
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()

    with open(args.template) as f:
        resources = yaml.load(f, Loader=CloudFormationLoader)["Resources"]
    silver_schema = schema(resources, "QuotesCuratedTable")
    gold_schema = schema(resources, "Ohlc1dTable")
    for day, files in sorted(raw_days(args.data).items()):
        rows = silver(files, silver_schema)
        print(write(args.data, "quotes", day, rows, silver_schema))
        print(write(args.data, "ohlc_1d", day, gold(day, rows), gold_schema))


if __name__ == "__main__":
    main()
