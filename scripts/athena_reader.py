"""Reads the bucket's CSV objects the way Athena does, then runs template.yaml's named queries.

Athena reads `quotes_csv` with Hive's OpenCSVSerde (engine v3's Trino reader is a
bug-for-bug port of it), and its escape rules are exactly where a generic CSV reader
(DuckDB's included) differs: with `escapeChar` `"` the SerDe hands opencsv a BACKSLASH
escape, which drops or swallows backslashes. So the read is done by the real SerDe:
Spark with Hive support (pyspark from PyPI ships hive-serde 2.3 and opencsv 2.3) creates
the external table with the template's SerDe, SerDe parameters, input/output formats,
columns, partition keys and table parameters, adds the partitions that the template's
partition projection would compute for the directories found under DATA (a copy of the
bucket), and selects every row as the SerDe returns it: strings, NULL for a missing field.
Spark's Hive scan ignores `skip.header.line.count` (Hive's record reader applies it), so
the script drops that many lines from the start of each file itself, checking they are
the header.

The typed view and the named queries then run in DuckDB over exactly those rows (loaded
into a `quotes_csv` table of the template's columns). Spark SQL is further from Athena's
(Trino's) dialect: it has no UNNEST, so the missing-slots query would need rewriting,
while the DuckDB mapping below is small and mechanical. One JVM start per run keeps the
test quick:

  current_date       -> DATE '<day of --at>'   (a fixed time, for repeatable results)
  current_timestamp  -> TIMESTAMP '<--at>'
  sequence(          -> generate_series(        (Trino's and DuckDB's names)

Prints JSON: {"escape_char": …, "rows": [{"file", "year", "month", "day", "fields"}],
"unprojected": [directories no projected partition covers], "queries": {"<--at>":
{"<query name>": [[column, …], …]}}}; values as text, NULL as null.

usage: athena_reader.py --template template.yaml --data DIR --at '2024-06-01 12:47:00' [--at …]
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile

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


def load_template(path):
    with open(path) as f:
        resources = yaml.load(f, Loader=CloudFormationLoader)["Resources"]
    table = resources["QuotesCsvTable"]["Properties"]["TableInput"]
    queries = {
        r["Properties"]["Name"]: r["Properties"]["QueryString"]
        for r in resources.values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }
    return table, queries


def literal(text: str) -> str:
    """A Spark SQL string literal holding exactly `text` (\\uXXXX for anything unusual)."""
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c in " ._-/:=,$!{}") else f"\\u{ord(c):04x}"
        for c in text
    )
    return f"'{safe}'"


def projected_partitions(table, data):
    """The partitions Athena's projection computes that exist under DATA, and the
    directories it never computes (so Athena never reads them).

    Projection renders `storage.location.template` for every integer in each key's
    `range`, zero-padded to `digits`; a directory is read only if one rendering names it.
    """
    params = table["Parameters"]
    assert params.get("projection.enabled") == "true", "the table uses partition projection"
    keys = [p["Name"] for p in table["PartitionKeys"]]
    location = params["storage.location.template"]
    # s3://<bucket>/<key template>: the bucket is a template value, the keys are the data's.
    relative = re.sub(r"^s3://[^/]+/", "", location)
    pattern = re.escape(relative)
    for key in keys:
        assert params[f"projection.{key}.type"] == "integer", key
        pattern = pattern.replace(re.escape(f"${{!{key}}}"), f"(?P<{key}>[^/]+)")
    pattern = re.compile(pattern + "$")

    found, unprojected = [], []
    for root, _dirs, files in os.walk(data):
        if not any(f.endswith(".csv") for f in files):
            continue
        rel = os.path.relpath(root, data).replace(os.sep, "/") + "/"
        match = pattern.match(rel)
        values = {}
        if match:
            for key in keys:
                low, high = (int(v) for v in params[f"projection.{key}.range"].split(","))
                digits = int(params.get(f"projection.{key}.digits", "1"))
                text = match.group(key)
                value = int(text) if text.isdigit() else None
                if value is None or not low <= value <= high or f"{value:0{digits}d}" != text:
                    break
                values[key] = value
        if len(values) == len(keys):
            found.append((values, root))
        else:
            unprojected.append(rel)
    return sorted(found, key=lambda f: f[1]), sorted(unprojected)


def read_with_opencsvserde(table, data, work):
    """Every row of the table as Hive's SerDe returns it, with its file and partition."""
    from pyspark.sql import SparkSession

    metastore = os.path.join(work, "metastore_db")
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("coinlake-athena-reader")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true",
        )
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        storage = table["StorageDescriptor"]
        serde = storage["SerdeInfo"]
        columns = ", ".join(f"`{c['Name']}` {c['Type']}" for c in storage["Columns"])
        partitions = ", ".join(f"`{p['Name']}` {p['Type']}" for p in table["PartitionKeys"])
        serde_params = ", ".join(
            f"{literal(k)} = {literal(v)}" for k, v in serde.get("Parameters", {}).items()
        )
        table_params = ", ".join(
            f"{literal(k)} = {literal(v)}" for k, v in table["Parameters"].items()
        )
        name = table["Name"]
        spark.sql(
            f"""
            CREATE EXTERNAL TABLE `{name}` ({columns})
            PARTITIONED BY ({partitions})
            ROW FORMAT SERDE {literal(serde["SerializationLibrary"])}
            WITH SERDEPROPERTIES ({serde_params})
            STORED AS INPUTFORMAT {literal(storage["InputFormat"])}
                      OUTPUTFORMAT {literal(storage["OutputFormat"])}
            LOCATION {literal(os.path.join(data, "raw"))}
            TBLPROPERTIES ({table_params})
            """
        )
        found, unprojected = projected_partitions(table, data)
        for values, directory in found:
            spec = ", ".join(f"`{k}` = {v}" for k, v in values.items())
            spark.sql(
                f"ALTER TABLE `{name}` ADD PARTITION ({spec}) LOCATION {literal(directory)}"
            )
        # The reader under test must be the Hive SerDe, not Spark's own CSV source.
        plan = spark.sql(f"EXPLAIN SELECT * FROM `{name}`").collect()[0][0]
        assert "Scan hive" in plan and serde["SerializationLibrary"] in plan, plan

        names = [c["Name"] for c in storage["Columns"]]
        keys = [p["Name"] for p in table["PartitionKeys"]]
        selected = ", ".join(f"`{c}`" for c in names + keys)
        rows = spark.sql(
            f"SELECT input_file_name() AS file, {selected} FROM `{name}`"
        ).collect()
        # Hive's record reader applies `skip.header.line.count`; Spark's Hive scan does not,
        # so that many lines are dropped here from the start of each file, in read order
        # (one local task reads each file front to back), and checked to be the header.
        skip = int(table["Parameters"].get("skip.header.line.count", "0"))
        seen = {}
        out = []
        for row in rows:
            file = row["file"].removeprefix("file:")
            seen[file] = seen.get(file, 0) + 1
            if seen[file] <= skip:
                assert [row[c] for c in names] == names, f"{file} does not start with the header"
                continue
            out.append(
                {
                    "file": os.path.relpath(file, data).replace(os.sep, "/"),
                    **{k: row[k] for k in keys},
                    "fields": [row[c] for c in names],
                }
            )
        return out, unprojected
    finally:
        spark.stop()


def dialect(sql: str, at: str) -> str:
    sql = re.sub(r"\bcurrent_date\b", f"DATE '{at[:10]}'", sql)
    sql = re.sub(r"\bcurrent_timestamp\b", f"TIMESTAMP '{at}'", sql)
    return re.sub(r"\bsequence\(", "generate_series(", sql)


def text(value):
    return None if value is None else str(value)


def run_queries(table, queries, rows, times):
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    keys = [p["Name"] for p in table["PartitionKeys"]]
    db = duckdb.connect()
    db.execute(
        f"CREATE TABLE {table['Name']} ("
        + ", ".join([f'"{c}" VARCHAR' for c in columns] + [f'"{k}" INTEGER' for k in keys])
        + ")"
    )
    db.executemany(
        f"INSERT INTO {table['Name']} VALUES ({', '.join('?' * (len(columns) + len(keys)))})",
        [r["fields"] + [r[k] for k in keys] for r in rows],
    )
    view = next(sql for sql in queries.values() if "CREATE OR REPLACE VIEW quotes" in sql)
    results = {}
    for at in times:
        db.execute(dialect(view, at))
        results[at] = {}
        for name, sql in queries.items():
            if sql is view:
                continue
            cursor = db.execute(dialect(sql, at))
            results[at][name] = [[text(v) for v in row] for row in cursor.fetchall()]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--at", action="append", required=True)
    args = parser.parse_args()

    table, queries = load_template(args.template)
    data = os.path.abspath(args.data)
    work = tempfile.mkdtemp(prefix="coinlake-hive-")
    try:
        rows, unprojected = read_with_opencsvserde(table, data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    escape = table["StorageDescriptor"]["SerdeInfo"].get("Parameters", {}).get("escapeChar")
    json.dump(
        {
            "escape_char": escape,
            "rows": rows,
            "unprojected": unprojected,
            "queries": run_queries(table, queries, rows, args.at),
        },
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()
