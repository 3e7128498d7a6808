"""Runs template.yaml's Athena named queries with DuckDB, the local stand-in for Athena.

The CSV objects under DATA (a copy of the bucket: raw/quotes/year=YYYY/month=MM/day=DD/…)
are read the way the Glue table reads them: OpenCSVSerde semantics (RFC 4180 quotes, every
column a string, empty fields as empty strings) and the year/month/day partitions as int.
The typed view is created from the template's own `CREATE OR REPLACE VIEW quotes` query,
then every other named query runs after this mechanical dialect mapping:

  current_date       -> DATE '<--today>'           (a fixed day, for repeatable results)
  current_timestamp  -> TIMESTAMP '<--now>'
  sequence(          -> generate_series(           (Trino's and DuckDB's names)

Prints {"<query name>": [[column, …], …]} as JSON, values as text (NULL as null).

usage: athena_duckdb.py --template template.yaml --data DIR --today 2024-06-01 --now '2024-06-01 12:47:00'
"""

import argparse
import json
import re

import duckdb
import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, …) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CloudFormationLoader.add_multi_constructor("!", _any_tag)


def dialect(sql: str, today: str, now: str) -> str:
    sql = re.sub(r"\bcurrent_date\b", f"DATE '{today}'", sql)
    sql = re.sub(r"\bcurrent_timestamp\b", f"TIMESTAMP '{now}'", sql)
    return re.sub(r"\bsequence\(", "generate_series(", sql)


def text(value):
    return None if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--today", required=True)
    parser.add_argument("--now", required=True)
    args = parser.parse_args()

    with open(args.template) as f:
        resources = yaml.load(f, Loader=CloudFormationLoader)["Resources"]
    table = resources["QuotesCsvTable"]["Properties"]["TableInput"]
    columns = {c["Name"]: "VARCHAR" for c in table["StorageDescriptor"]["Columns"]}
    partitions = {p["Name"]: "INTEGER" for p in table["PartitionKeys"]}
    queries = {
        r["Properties"]["Name"]: r["Properties"]["QueryString"]
        for r in resources.values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }

    db = duckdb.connect()
    db.execute(
        f"""
        CREATE VIEW {table["Name"]} AS
        SELECT * FROM read_csv(
            '{args.data}/raw/quotes/*/*/*/*.csv',
            header = true, quote = '"', escape = '"', delim = ',',
            columns = {json.dumps(columns)},
            nullstr = '\\N',
            hive_partitioning = true, hive_types = {json.dumps(partitions)}
        )
        """
    )
    view = next(sql for sql in queries.values() if "CREATE OR REPLACE VIEW quotes" in sql)
    db.execute(dialect(view, args.today, args.now))

    results = {}
    for name, sql in queries.items():
        if sql is view:
            continue
        cursor = db.execute(dialect(sql, args.today, args.now))
        results[name] = [[text(v) for v in row] for row in cursor.fetchall()]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
