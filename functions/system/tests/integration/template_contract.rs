//! `template.yaml` against the code: the binaries it builds, the environment it sets, the S3
//! prefixes it wires, the Glue columns (CSV and curated Parquet) and the typed Athena views
//! all follow the schema and configuration in `coinlake` and the compact function's
//! contract, and no IAM statement grants `*`. Then the template as CloudFormation deploys
//! it, for every supported parameter set: after the SAM transform, the Rules and the
//! Conditions (`scripts/sam_transform.py`).

use coinlake::config::{
    API_VARIABLES, COMPACT_VARIABLES, INGEST_VARIABLES, KLINES_VARIABLES, LOAD_VARIABLES,
};
use coinlake::curated::parquet::{quote_columns, OHLC_COLUMNS};
use coinlake::layout::{Dataset, RAW_PREFIX};
use coinlake::schema::{ColumnType, KLINE_COLUMNS, QUOTE_COLUMNS};
use coinlake::slot::SLOT_YEARS;
use serde_json::{json, Value as Json};
use serde_norway::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn template() -> Value {
    let text = std::fs::read_to_string(testkit::workspace_root().join("template.yaml"))
        .expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// The value under `path` (keys separated by '.'), looking through CloudFormation tags.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |node, key| {
        let node = untag(node);
        node.get(key)
            .unwrap_or_else(|| panic!("template has no {path} (missing {key})"))
    })
}

fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn text(value: &Value) -> String {
    match untag(value) {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => serde_norway::to_string(other).unwrap_or_default(),
    }
}

fn env_names(template: &Value, function: &str) -> Vec<String> {
    let variables = at(
        template,
        &format!("Resources.{function}.Properties.Environment.Variables"),
    );
    untag(variables)
        .as_mapping()
        .unwrap()
        .keys()
        .map(text)
        .collect()
}

#[test]
fn each_function_builds_a_workspace_binary_with_cargo_lambda() {
    let template = template();
    for (function, binary, crate_dir) in [
        ("IngestFunction", "ingest", "ingest"),
        ("KlinesFunction", "klines", "klines"),
        ("LoadFunction", "load", "load"),
        ("CompactFunction", "compact", "compact"),
        ("ApiFunction", "api", "api"),
    ] {
        assert_eq!(
            text(at(
                &template,
                &format!("Resources.{function}.Metadata.BuildMethod")
            )),
            "rust-cargolambda"
        );
        assert_eq!(
            text(at(
                &template,
                &format!("Resources.{function}.Metadata.BuildProperties.Binary")
            )),
            binary
        );
        let manifest = std::fs::read_to_string(
            testkit::workspace_root().join(format!("functions/{crate_dir}/Cargo.toml")),
        )
        .unwrap();
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{binary}\"")),
            "functions/{crate_dir} builds no binary {binary}"
        );
    }
    assert_eq!(text(at(&template, "Globals.Function.CodeUri")), "./");
    assert_eq!(
        text(at(&template, "Globals.Function.Runtime")),
        "provided.al2023"
    );
}

#[test]
fn the_compact_function_is_built_and_sized_as_its_contract_says() {
    let template = template();
    let function = at(&template, "Resources.CompactFunction");
    assert_eq!(
        text(at(function, "Metadata.BuildMethod")),
        "rust-cargolambda"
    );
    assert_eq!(
        text(at(function, "Metadata.BuildProperties.Binary")),
        "compact"
    );
    // The workspace root, from Globals, like every function's.
    assert!(untag(at(function, "Properties")).get("CodeUri").is_none());
    assert!(untag(at(function, "Properties")).get("Runtime").is_none());
    assert_eq!(at(function, "Properties.MemorySize").as_u64(), Some(512));
    assert_eq!(at(function, "Properties.Timeout").as_u64(), Some(900));
    assert!(
        untag(at(function, "Properties")).get("VpcConfig").is_none(),
        "compact reaches S3 only and stays outside any VPC"
    );
    let variables = untag(at(function, "Properties.Environment.Variables"));
    let mut names = env_names(&template, "CompactFunction");
    names.sort();
    assert_eq!(
        names,
        [
            "BUCKET_NAME",
            "COMPACT_DAYS_IN_PARALLEL",
            "COMPACT_OBJECTS_IN_PARALLEL"
        ]
    );
    assert_eq!(
        text(variables.get("COMPACT_OBJECTS_IN_PARALLEL").unwrap()),
        "16"
    );
}

/// Every function filters its own logs by `RUST_LOG`, from `LogLevel`. Lambda's own
/// filter (`ApplicationLogLevel`) would count the metric lines, which carry no level, as
/// INFO and drop them at WARN or ERROR.
#[test]
fn the_log_level_reaches_every_function_as_its_own_filter_and_lambda_filters_nothing() {
    let source = template();
    assert!(
        untag(at(&source, "Globals.Function.LoggingConfig"))
            .get("ApplicationLogLevel")
            .is_none(),
        "Lambda's log-level filter would drop the EMF lines"
    );
    let levels: Vec<String> = at(&source, "Parameters.LogLevel.AllowedValues")
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    for level in &levels {
        assert_eq!(
            text(at(&source, &format!("Mappings.LogFilters.{level}.RustLog"))),
            level.to_ascii_lowercase()
        );
    }
    let deployed = deployed("vpc-postgres", &["LogLevel=WARN"]);
    let functions = of_type(&deployed, "AWS::Lambda::Function");
    assert!(functions.len() >= 5);
    for (name, function) in functions {
        assert_eq!(
            function["Properties"]["Environment"]["Variables"]["RUST_LOG"],
            // The transform puts the parameter's value in; CloudFormation maps it.
            json!({ "Fn::FindInMap": ["LogFilters", "WARN", "RustLog"] }),
            "{name}"
        );
        assert!(
            function["Properties"]["LoggingConfig"]
                .get("ApplicationLogLevel")
                .is_none(),
            "{name}"
        );
    }
}

#[test]
fn the_environment_the_template_sets_is_what_the_functions_read() {
    let template = template();
    for (function, known, required) in [
        (
            "IngestFunction",
            INGEST_VARIABLES,
            &["BUCKET_NAME", "CMC_API_KEY_SECRET_ARN"][..],
        ),
        (
            "KlinesFunction",
            KLINES_VARIABLES,
            &["BUCKET_NAME", "BINANCE_BASE_URL", "KLINES_SYMBOLS"][..],
        ),
        (
            "LoadFunction",
            LOAD_VARIABLES,
            &["BUCKET_NAME", "DB_SINK", "DB_SECRET_ARN", "ALERT_TOPIC_ARN"][..],
        ),
        (
            "ApiFunction",
            API_VARIABLES,
            &["DB_SINK", "DB_SECRET_ARN", "API_DEFAULT_CURRENCY"][..],
        ),
        (
            "CompactFunction",
            COMPACT_VARIABLES,
            &["BUCKET_NAME", "COMPACT_DAYS_IN_PARALLEL"][..],
        ),
    ] {
        let names = env_names(&template, function);
        for name in &names {
            assert!(
                known.contains(&name.as_str()),
                "{function} sets {name}, which its configuration never reads"
            );
        }
        for name in required {
            assert!(
                names.iter().any(|n| n == name),
                "{function} must set {name}"
            );
        }
    }
}

#[test]
fn the_maintenance_schedule_input_is_the_event_load_accepts() {
    let input = text(at(
        &template(),
        "Resources.LoadFunction.Properties.Events.Maintenance.Properties.Input",
    ));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&input).expect("Input is JSON"),
        serde_json::json!({ "maintain": { "scheduled_time": "<aws.scheduler.scheduled-time>" } })
    );
    // What the Scheduler sends once it has put the time in.
    let sent = input.replace("<aws.scheduler.scheduled-time>", "2024-06-02T01:00:00Z");
    let event = load::event::LoadEvent::parse(&serde_json::from_str(&sent).unwrap())
        .expect("load accepts the maintenance schedule's input");
    assert_eq!(
        event,
        load::event::LoadEvent::Maintain {
            today: chrono::NaiveDate::from_ymd_opt(2024, 6, 2)
        }
    );
}

#[test]
fn the_schedule_inputs_are_the_events_ingest_klines_and_compact_accept() {
    for function in ["IngestFunction", "KlinesFunction", "CompactFunction"] {
        let input = text(at(
            &template(),
            &format!("Resources.{function}.Properties.Events.Schedule.Properties.Input"),
        ));
        let json: serde_json::Value = serde_json::from_str(&input).expect("Input is JSON");
        assert_eq!(
            json,
            serde_json::json!({ "scheduled_time": "<aws.scheduler.scheduled-time>" }),
            "{function}"
        );
    }
    // What the Scheduler sends the klines function once it has put the time in.
    let input = text(at(
        &template(),
        "Resources.KlinesFunction.Properties.Events.Schedule.Properties.Input",
    ));
    let sent = input.replace("<aws.scheduler.scheduled-time>", "2024-06-01T12:35:00Z");
    let request = klines::event::Request::parse(&serde_json::from_str(&sent).unwrap())
        .expect("klines accepts its schedule's input");
    let klines::event::Request::Slot(trigger) = request else {
        panic!("the schedule's input is not a slot run: {request:?}");
    };
    assert_eq!(
        trigger.slot(chrono::Utc::now()).unwrap().to_string(),
        "2024-06-01T12:35:00Z"
    );
}

/// The S3 filter load is subscribed with is checked on the deployed template
/// (`with_a_database_snapshots_reach_load_by_exactly_one_route`).
#[test]
fn the_glue_table_reads_the_layouts_prefix_in_the_stacks_bucket() {
    let template = template();
    let quotes = Dataset::Quotes.prefix();
    assert!(text(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.StorageDescriptor.Location"
    ))
    .ends_with(&format!("${{DataBucket}}/{quotes}")));
    let parameters = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.Parameters",
    ));
    let location_template = text(parameters.get("storage.location.template").unwrap());
    assert!(
        location_template.ends_with(&format!(
            "${{DataBucket}}/{quotes}year=${{!year}}/month=${{!month}}/day=${{!day}}/"
        )),
        "{location_template}"
    );
    assert_eq!(
        text(parameters.get("projection.month.digits").unwrap()),
        "2"
    );
    assert_eq!(text(parameters.get("projection.day.digits").unwrap()), "2");
}

#[test]
fn the_partition_projection_reads_every_year_a_slot_may_be_written_for() {
    let template = template();
    for table in PROJECTED_TABLES {
        let parameters = untag(at(
            &template,
            &format!("Resources.{table}.Properties.TableInput.Parameters"),
        ));
        assert_eq!(
            text(parameters.get("projection.year.range").unwrap()),
            format!("{},{}", SLOT_YEARS.start(), SLOT_YEARS.end()),
            "{table}"
        );
    }
}

/// Every Glue table over the bucket: the CSV and the two curated Parquet tables.
const PROJECTED_TABLES: [&str; 4] = [
    "QuotesCsvTable",
    "KlinesCsvTable",
    "QuotesCuratedTable",
    "Ohlc1dTable",
];

/// (Name, Type) of each column of a Glue table in `template.yaml`.
fn glue_columns(template: &Value, table: &str) -> Vec<(String, String)> {
    untag(at(
        template,
        &format!("Resources.{table}.Properties.TableInput.StorageDescriptor.Columns"),
    ))
    .as_sequence()
    .unwrap()
    .iter()
    .map(|c| (text(at(c, "Name")), text(at(c, "Type"))))
    .collect()
}

#[test]
fn the_curated_tables_read_compacts_parquet_days_projected_like_the_csv() {
    let template = template();
    let csv = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput",
    ));
    for (table, name, prefix) in [
        ("QuotesCuratedTable", "quotes_curated", "curated/quotes/"),
        ("Ohlc1dTable", "ohlc_1d", "curated/ohlc_1d/"),
    ] {
        let input = untag(at(
            &template,
            &format!("Resources.{table}.Properties.TableInput"),
        ));
        assert_eq!(text(at(input, "Name")), name);
        assert_eq!(text(at(input, "TableType")), "EXTERNAL_TABLE");
        assert_eq!(
            text(at(input, "StorageDescriptor.Location")),
            format!("s3://${{DataBucket}}/{prefix}")
        );
        assert_eq!(
            text(at(
                input,
                "StorageDescriptor.SerdeInfo.SerializationLibrary"
            )),
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        );
        assert_eq!(
            text(at(input, "StorageDescriptor.InputFormat")),
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        );
        assert_eq!(
            text(at(input, "StorageDescriptor.OutputFormat")),
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
        );
        assert_eq!(
            at(input, "PartitionKeys"),
            at(csv, "PartitionKeys"),
            "{table}"
        );
        let parameters = untag(at(input, "Parameters")).as_mapping().unwrap();
        assert_eq!(text(parameters.get("classification").unwrap()), "parquet");
        assert_eq!(
            text(parameters.get("storage.location.template").unwrap()),
            format!(
                "s3://${{DataBucket}}/{prefix}year=${{!year}}/month=${{!month}}/day=${{!day}}/"
            )
        );
        // Every projection setting is the CSV table's: the same days, the same digits.
        let csv_parameters = untag(at(csv, "Parameters")).as_mapping().unwrap();
        for (key, value) in csv_parameters {
            if text(key).starts_with("projection.") {
                assert_eq!(parameters.get(key), Some(value), "{table}: {}", text(key));
            }
        }
        assert_eq!(
            parameters
                .keys()
                .filter(|k| text(k).starts_with("projection."))
                .count(),
            csv_parameters
                .keys()
                .filter(|k| text(k).starts_with("projection."))
                .count(),
            "{table}"
        );
    }
}

/// The Glue tables are the Parquet files' columns, in order, typed as the compact
/// function writes them (and the silver ones are the CSV's, decimals as doubles).
#[test]
fn the_curated_tables_have_the_columns_compact_writes() {
    let athena = |columns: &[coinlake::curated::parquet::CuratedColumn]| -> Vec<(String, String)> {
        columns
            .iter()
            .map(|c| (c.name.to_owned(), c.curated_type.athena().to_owned()))
            .collect()
    };
    assert_eq!(
        glue_columns(&template(), "QuotesCuratedTable"),
        athena(&quote_columns())
    );
    assert_eq!(
        glue_columns(&template(), "Ohlc1dTable"),
        athena(&OHLC_COLUMNS)
    );
    let csv_typed: Vec<(String, String)> = QUOTE_COLUMNS
        .iter()
        .map(|c| {
            let athena = match c.column_type {
                ColumnType::Timestamp => "timestamp",
                ColumnType::Integer => "bigint",
                ColumnType::Decimal => "double",
                ColumnType::Text => "string",
            };
            (c.name.to_owned(), athena.to_owned())
        })
        .collect();
    assert_eq!(athena(&quote_columns()), csv_typed);
}

#[test]
fn the_glue_table_has_the_csv_columns_and_the_view_types_them_as_the_schema_does() {
    let template = template();
    let columns = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.StorageDescriptor.Columns",
    ));
    let names: Vec<String> = columns
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| text(at(c, "Name")))
        .collect();
    let expected: Vec<&str> = QUOTE_COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    assert!(columns
        .as_sequence()
        .unwrap()
        .iter()
        .all(|c| text(at(c, "Type")) == "string"));

    let view = text(at(
        &template,
        "Resources.CreateQuotesRawViewQuery.Properties.QueryString",
    ));
    assert!(view.starts_with("CREATE OR REPLACE VIEW quotes_raw AS"));
    assert!(view.trim_end().ends_with("FROM quotes_csv"));
    for column in QUOTE_COLUMNS {
        let line = view
            .lines()
            .map(str::trim)
            .find(|l| {
                l.trim_end_matches(',')
                    .ends_with(&format!(" AS {}", column.name))
                    || l.trim_end_matches(',') == column.name
            })
            .unwrap_or_else(|| panic!("the view does not select {}", column.name));
        let cast = match column.column_type {
            ColumnType::Timestamp => "AS TIMESTAMP)",
            ColumnType::Integer => "AS BIGINT)",
            ColumnType::Decimal => "AS DOUBLE)",
            ColumnType::Text => "",
        };
        assert!(
            line.contains(cast),
            "{}: expected a cast {cast:?} in {line:?}",
            column.name
        );
        let nullable_cast = line.contains("NULLIF(");
        assert_eq!(
            nullable_cast,
            column.nullable && column.column_type != ColumnType::Text,
            "{}: NULLIF exactly for nullable typed columns: {line:?}",
            column.name
        );
    }
}

#[test]
fn the_quotes_view_unions_curated_days_and_the_recent_raw_ones_column_for_column() {
    let view = text(at(
        &template(),
        "Resources.CreateQuotesViewQuery.Properties.QueryString",
    ));
    assert!(view.starts_with("CREATE OR REPLACE VIEW quotes AS"));
    let (curated, raw) = view.split_once("UNION ALL").expect("two halves, UNION ALL");
    assert!(curated.contains("FROM quotes_curated") && !curated.contains("quotes_raw"));
    assert!(raw.contains("FROM quotes_raw") && !raw.contains("quotes_curated"));
    let mut columns: Vec<&str> = QUOTE_COLUMNS.iter().map(|c| c.name).collect();
    columns.extend(["year", "month", "day"]);
    for half in [curated, raw] {
        let select = half
            .split_once("SELECT")
            .and_then(|(_, rest)| rest.split_once("FROM"))
            .map(|(list, _)| list)
            .expect("a select list");
        let selected: Vec<&str> = select.split(',').map(str::trim).collect();
        assert_eq!(selected, columns, "{half}");
    }
    // Both halves pick days by the partition columns and the date alone, so Athena prunes
    // the partitions it opens by them (the window semantics are proven in athena_standin).
    let curated_filter = curated.split_once("FROM quotes_curated").unwrap().1;
    let raw_filter = raw
        .split_once("FROM quotes_raw r")
        .and_then(|(_, rest)| rest.split_once(") recent"))
        .unwrap()
        .0;
    for filter in [curated_filter, raw_filter] {
        let words: Vec<String> = filter
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_ascii_lowercase)
            .collect();
        assert!(words.contains(&"current_date".to_owned()), "{filter}");
        for word in &words {
            assert!(
                [
                    "where",
                    "and",
                    "or",
                    "year",
                    "month",
                    "day",
                    "current_date",
                    "interval"
                ]
                .contains(&word.as_str()),
                "{word:?} in a day filter: {filter}"
            );
        }
    }
}

/// Every `Action` and `Resource` value under `node`, through `!If` and lists.
fn grants(node: &Value, key: &str, out: &mut Vec<String>) {
    match untag(node) {
        Value::Mapping(map) => {
            for (k, v) in map {
                if text(k) == key {
                    match untag(v) {
                        Value::Sequence(items) => out.extend(items.iter().map(text)),
                        other => out.push(text(other)),
                    }
                } else {
                    grants(v, key, out);
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| grants(item, key, out)),
        _ => {}
    }
}

#[test]
fn no_iam_statement_grants_every_action_or_every_resource() {
    let template = template();
    for function in [
        "IngestFunction",
        "KlinesFunction",
        "LoadFunction",
        "ApiFunction",
        "CompactFunction",
    ] {
        let policies = at(
            &template,
            &format!("Resources.{function}.Properties.Policies"),
        );
        let (mut actions, mut resources) = (Vec::new(), Vec::new());
        grants(policies, "Action", &mut actions);
        grants(policies, "Resource", &mut resources);
        assert!(
            !actions.is_empty() && !resources.is_empty(),
            "{function} has statements"
        );
        for action in &actions {
            assert!(
                action != "*" && !action.ends_with(":*"),
                "{function} grants {action}"
            );
        }
        for resource in &resources {
            assert!(
                resource.trim() != "*" && !resource.ends_with(":*"),
                "{function} grants on {resource}"
            );
        }
    }
}

#[test]
fn the_bucket_refuses_requests_without_tls() {
    let template = template();
    let statements = untag(at(
        &template,
        "Resources.DataBucketPolicy.Properties.PolicyDocument.Statement",
    ));
    let deny = statements
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| text(at(s, "Effect")) == "Deny")
        .expect("a Deny statement");
    assert_eq!(text(at(deny, "Action")), "s3:*");
    assert_eq!(
        text(at(deny, "Condition.Bool.aws:SecureTransport")),
        "false"
    );
    let resources = text(at(deny, "Resource"));
    assert!(
        resources.contains("${DataBucket}") && resources.contains("${DataBucket}/*"),
        "{resources}"
    );
    let public = untag(at(
        &template,
        "Resources.DataBucket.Properties.PublicAccessBlockConfiguration",
    ));
    assert!(public
        .as_mapping()
        .unwrap()
        .values()
        .all(|v| matches!(untag(v), Value::Bool(true))));
}

#[test]
fn the_dashboard_url_is_private_by_default_and_read_only() {
    let template = template();
    let url = at(&template, "Resources.ApiFunctionUrl.Properties");
    assert_eq!(text(at(url, "AuthType")), "ApiAuthType");
    assert_eq!(
        text(at(&template, "Parameters.ApiAuthType.Default")),
        "AWS_IAM"
    );
    assert_eq!(text(at(url, "Cors.AllowMethods")), "GET HEAD");
    // The function reads: no S3 access, and on the Data API no statement beyond reads.
    let mut actions = Vec::new();
    grants(
        at(&template, "Resources.ApiFunction.Properties.Policies"),
        "Action",
        &mut actions,
    );
    for action in &actions {
        assert!(
            action.starts_with("secretsmanager:GetSecretValue")
                || action == "rds-data:ExecuteStatement",
            "ApiFunction may {action}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// The template as CloudFormation deploys it: `scripts/sam_transform.py` runs the SAM
// transform (samtranslator, offline), the Rules, and resolves the Conditions for one
// parameter set; these tests read what comes out, resource by resource.

const SETS: &str = "scripts/template-parameter-sets.json";

/// Exit status and stderr of a refused or broken transform.
type Refusal = (i32, String);

/// Runs `scripts/sam_transform.py` once for many command lines (`--batch`: one interpreter
/// start, not one per case).
fn transform_all(cases: &[Vec<&str>]) -> Vec<Result<Json, Refusal>> {
    let root = testkit::workspace_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/sam_transform.py"))
        .arg("--batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/sam_transform.py with .venv's python (scripts/setup.sh installs it)");
    let input = serde_json::to_vec(cases).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "sam_transform.py --batch failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Json> = serde_json::from_slice(&output.stdout).expect("a JSON list");
    assert_eq!(results.len(), cases.len());
    results
        .into_iter()
        .map(|r| match r["status"].as_i64() {
            Some(0) => Ok(r["template"].clone()),
            status => Err((
                status.unwrap_or(-1) as i32,
                r["errors"].as_str().unwrap_or_default().to_owned(),
            )),
        })
        .collect()
}

/// The template deployed with each parameter set of `scripts/template-parameter-sets.json`
/// named here, plus its extra arguments (`Name=Value`, or `--stack-name`, `--stack-id`).
fn deployed_all(cases: &[(&str, &[&str])]) -> Vec<Json> {
    let argv: Vec<Vec<&str>> = cases
        .iter()
        .map(|(set, extra)| [&["--set", *set][..], extra].concat())
        .collect();
    transform_all(&argv)
        .into_iter()
        .zip(cases)
        .map(|(result, (set, extra))| {
            result.unwrap_or_else(|(code, stderr)| {
                panic!("parameter set {set} {extra:?} is not deployed (exit {code}): {stderr}")
            })
        })
        .collect()
}

fn deployed(set: &str, extra: &[&str]) -> Json {
    deployed_all(&[(set, extra)]).remove(0)
}

fn supported_sets() -> serde_json::Map<String, Json> {
    let text = std::fs::read_to_string(testkit::workspace_root().join(SETS)).expect(SETS);
    match serde_json::from_str(&text).expect("the parameter sets are JSON") {
        Json::Object(sets) => sets,
        other => panic!("{SETS} is not an object: {other}"),
    }
}

fn resource<'a>(template: &'a Json, name: &str) -> Option<&'a Json> {
    template.pointer(&format!("/Resources/{name}"))
}

fn property<'a>(template: &'a Json, name: &str, path: &str) -> &'a Json {
    let pointer = format!("/Resources/{name}/Properties/{path}");
    template
        .pointer(pointer.trim_end_matches('/'))
        .unwrap_or_else(|| panic!("{name} has no {path}"))
}

fn of_type<'a>(template: &'a Json, kind: &str) -> Vec<(&'a str, &'a Json)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn bucket_name(template: &Json) -> String {
    property(template, "DataBucket", "BucketName")
        .as_str()
        .expect("the bucket's name resolves to a string")
        .to_owned()
}

#[test]
fn every_supported_parameter_set_deploys_and_references_only_what_it_creates() {
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    // The tool exits 3 (and this panics) on a Ref, GetAtt or ${Name} to a resource the set
    // does not create, e.g. an alarm on a queue that only exists with a database.
    let templates = deployed_all(&names);
    assert!(sets.len() >= 6, "{sets:?}");
    for ((set, parameters), template) in sets.iter().zip(&templates) {
        let text = template.to_string();
        assert!(
            !text.contains("Fn::If") && !text.contains("AWS::NoValue"),
            "{set}: conditions left unresolved"
        );
        for name in ["IngestFunction", "CompactFunction"] {
            assert!(
                resource(template, name).is_some(),
                "{set} ({parameters}) has no {name}"
            );
        }
    }
}

/// The one rule and the one permission that route to `function` in `template`.
fn routes_to<'a>(template: &'a Json, function: &str) -> (Vec<(&'a str, &'a Json)>, Vec<&'a Json>) {
    let arn = json!({ "Fn::GetAtt": [function, "Arn"] });
    let rules = of_type(template, "AWS::Events::Rule")
        .into_iter()
        .filter(|(_, r)| {
            r["Properties"]["Targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["Arn"] == arn)
        })
        .collect();
    let permissions = of_type(template, "AWS::Lambda::Permission")
        .into_iter()
        .map(|(_, p)| &p["Properties"])
        .filter(|p| p["FunctionName"] == json!({ "Ref": function }))
        .collect();
    (rules, permissions)
}

#[test]
fn in_every_parameter_set_compact_runs_daily_and_on_every_new_snapshot() {
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    for ((set, _), template) in names.iter().zip(deployed_all(&names)) {
        // The bucket sends its events to EventBridge in every mode, whatever route load has.
        assert_eq!(
            property(
                &template,
                "DataBucket",
                "NotificationConfiguration/EventBridgeConfiguration"
            ),
            &json!({ "EventBridgeEnabled": true }),
            "{set}"
        );
        let function = property(&template, "CompactFunction", "");
        assert_eq!(function["ReservedConcurrentExecutions"], "1", "{set}");
        // One day in memory at a time where a day is 1.44 million rows.
        let listings = sets[*set].get("CmcMode").and_then(Json::as_str) == Some("listings");
        assert_eq!(
            function["Environment"]["Variables"]["COMPACT_DAYS_IN_PARALLEL"],
            if listings { "1" } else { "2" },
            "{set}"
        );
        assert!(function.get("VpcConfig").is_none(), "{set}");
        assert_eq!(
            function["Environment"]["Variables"]["BUCKET_NAME"],
            bucket_name(&template).as_str()
        );

        // Daily at 00:20 UTC, with the scheduled time as input, retried, undeliverable
        // schedules kept in their own queue.
        let schedules: Vec<&Json> = of_type(&template, "AWS::Scheduler::Schedule")
            .into_iter()
            .map(|(_, s)| &s["Properties"])
            .filter(|s| s["Target"]["Arn"] == json!({ "Fn::GetAtt": ["CompactFunction", "Arn"] }))
            .collect();
        assert_eq!(schedules.len(), 1, "{set}");
        let schedule = schedules[0];
        assert_eq!(schedule["ScheduleExpression"], "cron(20 0 * * ? *)");
        assert_eq!(schedule["ScheduleExpressionTimezone"], "UTC");
        assert_eq!(schedule["Name"], "coinlake-compact");
        assert_eq!(schedule["FlexibleTimeWindow"], json!({ "Mode": "OFF" }));
        let input: Json =
            serde_json::from_str(schedule["Target"]["Input"].as_str().unwrap()).unwrap();
        assert_eq!(
            input,
            json!({ "scheduled_time": "<aws.scheduler.scheduled-time>" })
        );
        assert!(schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"].as_i64() > Some(0));
        assert_eq!(
            schedule["Target"]["DeadLetterConfig"]["Arn"],
            json!({ "Fn::GetAtt": ["CompactScheduleDeadLetterQueue", "Arn"] })
        );

        // Every raw quotes CSV object created (never a klines one: compact refuses that
        // dataset) reaches compact through one rule, which alone may invoke it and put
        // what it could not deliver into compact's failure queue.
        let (rules, permissions) = routes_to(&template, "CompactFunction");
        assert_eq!(rules.len(), 1, "{set}");
        let (rule, definition) = rules[0];
        let pattern = &definition["Properties"]["EventPattern"];
        assert_eq!(pattern["source"], json!(["aws.s3"]));
        assert_eq!(pattern["detail-type"], json!(["Object Created"]));
        assert_eq!(
            pattern["detail"]["bucket"]["name"],
            json!([{ "Ref": "DataBucket" }])
        );
        let quotes = Dataset::Quotes.prefix();
        assert_eq!(
            pattern["detail"]["object"]["key"],
            json!([{ "wildcard": format!("{quotes}*.csv") }])
        );
        assert!(!Dataset::Klines.prefix().starts_with(&quotes));
        let targets = definition["Properties"]["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(
            targets[0]["DeadLetterConfig"]["Arn"],
            json!({ "Fn::GetAtt": ["CompactFailureQueue", "Arn"] })
        );
        assert_eq!(permissions.len(), 1, "{set}: {permissions:?}");
        assert_eq!(permissions[0]["Principal"], "events.amazonaws.com");
        assert_eq!(
            permissions[0]["SourceArn"],
            json!({ "Fn::GetAtt": [rule, "Arn"] })
        );
        let queue_policy = of_type(&template, "AWS::SQS::QueuePolicy")
            .into_iter()
            .find(|(_, p)| p["Properties"]["Queues"] == json!([{ "Ref": "CompactFailureQueue" }]))
            .unwrap_or_else(|| panic!("{set}: EventBridge may not use compact's failure queue"))
            .1;
        let statement = &queue_policy["Properties"]["PolicyDocument"]["Statement"][0];
        assert_eq!(
            statement["Principal"],
            json!({ "Service": "events.amazonaws.com" })
        );
        assert_eq!(statement["Action"], "sqs:SendMessage");
        assert_eq!(
            statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            json!({ "Fn::GetAtt": [rule, "Arn"] })
        );

        // Failed invocations wait in the failure queue, throttled ones long enough for the
        // one running compaction; the alarms watch both queues and the function's errors.
        let invoke = property(&template, "CompactFunctionEventInvokeConfig", "");
        assert_eq!(
            invoke["DestinationConfig"]["OnFailure"]["Destination"],
            json!({ "Fn::GetAtt": ["CompactFailureQueue", "Arn"] })
        );
        assert_eq!(invoke["MaximumEventAgeInSeconds"], 21600);
        let dead_letters = property(&template, "DeadLetterAlarm", "Metrics").to_string();
        for queue in ["CompactFailureQueue", "CompactScheduleDeadLetterQueue"] {
            assert!(dead_letters.contains(queue), "{set}: no alarm on {queue}");
        }
        assert_eq!(
            property(&template, "CompactErrorsAlarm", "Dimensions"),
            &json!([{ "Name": "FunctionName", "Value": { "Ref": "CompactFunction" } }])
        );
        assert_eq!(
            property(&template, "CompactLogGroup", "LogGroupName"),
            &json!({ "Fn::Sub": "/aws/lambda/${CompactFunction}" })
        );
        let outputs = template["Outputs"].as_object().unwrap();
        for output in [
            "CompactFunctionName",
            "CompactFailureQueueUrl",
            "CompactScheduleDeadLetterQueueUrl",
        ] {
            assert!(outputs.contains_key(output), "{set}: no output {output}");
        }
    }
}

#[test]
fn with_a_database_load_maintains_daily_and_reads_only_the_curated_quotes() {
    let sets = [
        "vpc-postgres",
        "data-api",
        "eventbridge",
        "public-url-token",
    ];
    for (set, template) in sets
        .into_iter()
        .zip(deployed_all(&sets.map(|s| (s, &[][..]))))
    {
        // Daily at 01:00 UTC (after compact's 00:20), retried, undeliverable schedules kept
        // in a queue of their own.
        let schedules: Vec<&Json> = of_type(&template, "AWS::Scheduler::Schedule")
            .into_iter()
            .map(|(_, s)| &s["Properties"])
            .filter(|s| s["Target"]["Arn"] == json!({ "Fn::GetAtt": ["LoadFunction", "Arn"] }))
            .collect();
        // Two: this one, and the alerts schedule (tested with the alerts below).
        assert_eq!(schedules.len(), 2, "{set}");
        let schedule = schedules
            .into_iter()
            .find(|s| s["Target"]["Input"].as_str().unwrap().contains("maintain"))
            .expect("a maintenance schedule");
        assert_eq!(schedule["ScheduleExpression"], "cron(0 1 * * ? *)");
        assert_eq!(schedule["ScheduleExpressionTimezone"], "UTC");
        assert_eq!(schedule["Name"], "coinlake-upkeep");
        assert!(schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"].as_i64() > Some(0));
        assert_eq!(
            schedule["Target"]["DeadLetterConfig"]["Arn"],
            json!({ "Fn::GetAtt": ["LoadMaintenanceDeadLetterQueue", "Arn"] })
        );
        let retention =
            &property(&template, "LoadFunction", "Environment/Variables")["DB_RETENTION_DAYS"];
        assert_eq!(
            retention,
            if set == "vpc-postgres" { "30" } else { "" },
            "{set}"
        );

        // The silver objects maintenance verifies: read, under curated/quotes/ only.
        let bucket = format!("arn:aws:s3:::{}", bucket_name(&template));
        let mut reads: Vec<String> = allow_statements(&template)
            .into_iter()
            .filter(|(owner, s)| owner == "LoadFunctionRole" && s["Action"] == "s3:GetObject")
            .map(|(_, s)| s["Resource"].to_string())
            .collect();
        reads.sort();
        assert_eq!(
            reads,
            [
                json!(format!("{bucket}/curated/quotes/*")).to_string(),
                json!(format!("{bucket}/raw/*")).to_string()
            ],
            "{set}"
        );
    }
}

#[test]
fn compact_reads_raw_lists_two_prefixes_and_writes_only_curated() {
    let template = deployed("default", &[]);
    let bucket = format!("arn:aws:s3:::{}", bucket_name(&template));
    let mut s3: Vec<Json> = allow_statements(&template)
        .into_iter()
        .filter(|(owner, _)| owner == "CompactFunctionRole")
        .map(|(_, statement)| statement)
        .filter(|statement| statement.to_string().contains("s3:"))
        .map(|mut statement| {
            statement.as_object_mut().unwrap().remove("Sid");
            statement
        })
        .collect();
    s3.sort_by_key(|s| s.to_string());
    let mut expected = vec![
        json!({ "Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("{bucket}/raw/*") }),
        json!({
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": { "StringLike": { "s3:prefix": ["raw/*", "curated/*"] } }
        }),
        json!({
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": format!("{bucket}/curated/*")
        }),
    ];
    expected.sort_by_key(|s| s.to_string());
    assert_eq!(s3, expected);
    // Beyond S3: only SAM's statement for the on-failure destination.
    let others: Vec<Json> = allow_statements(&template)
        .into_iter()
        .filter(|(owner, s)| owner == "CompactFunctionRole" && !s.to_string().contains("s3:"))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        others,
        [json!({
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": { "Fn::GetAtt": ["CompactFailureQueue", "Arn"] }
        })]
    );
}

#[test]
fn the_function_url_is_public_exactly_when_its_auth_type_is_none() {
    let cases = [
        ("public-url-token", &[][..], "NONE"),
        ("public-url-token", &["ApiAuthType=AWS_IAM"][..], "AWS_IAM"),
        ("vpc-postgres", &[][..], "AWS_IAM"),
        ("data-api", &["ApiAuthType=NONE"][..], "NONE"),
    ];
    let templates = deployed_all(&cases.map(|(set, extra, _)| (set, extra)));
    for ((set, extra, auth), template) in cases.into_iter().zip(&templates) {
        assert_eq!(
            property(template, "ApiFunctionUrl", "AuthType"),
            auth,
            "{set} {extra:?}"
        );
        assert_eq!(
            property(template, "ApiFunctionUrl", "TargetFunctionArn"),
            &json!({ "Ref": "ApiFunction" })
        );
        let public: Vec<&Json> = of_type(template, "AWS::Lambda::Permission")
            .into_iter()
            .map(|(_, p)| &p["Properties"])
            .filter(|p| p["Principal"] == "*")
            .collect();
        if auth == "NONE" {
            // Lambda's two statements for a public URL (since October 2025), both on api.
            let url = public
                .iter()
                .find(|p| p["Action"] == "lambda:InvokeFunctionUrl")
                .unwrap_or_else(|| panic!("{set} {extra:?}: no public InvokeFunctionUrl"));
            assert_eq!(url["FunctionUrlAuthType"], "NONE");
            let invoke = public
                .iter()
                .find(|p| p["Action"] == "lambda:InvokeFunction")
                .unwrap_or_else(|| panic!("{set} {extra:?}: no public InvokeFunction"));
            assert_eq!(invoke["InvokedViaFunctionUrl"], true);
            assert_eq!(public.len(), 2, "{public:?}");
            for permission in public {
                assert_eq!(permission["FunctionName"], json!({ "Ref": "ApiFunction" }));
            }
        } else {
            assert!(
                public.is_empty(),
                "{set} {extra:?}: public permissions with AWS_IAM: {public:?}"
            );
        }
    }
}

#[test]
fn the_schedules_are_named_for_their_stack_within_the_schedulers_limit() {
    // Stack names reach 128 characters; docs/deploying.md promises schedules up to 56
    // (`<stack>-compact` is the longer name).
    let longest = format!("ab{}", "-b".repeat(27));
    assert_eq!(longest.len(), 56);
    let stacks = ["coinlake", "coinlake-staging", longest.as_str()];
    let templates = deployed_all(&[
        ("default", &["--stack-name", stacks[0]]),
        ("default", &["--stack-name", stacks[1]]),
        ("default", &["--stack-name", stacks[2]]),
    ]);
    let mut names = Vec::new();
    for (stack, template) in stacks.into_iter().zip(&templates) {
        let schedules = of_type(template, "AWS::Scheduler::Schedule");
        assert_eq!(schedules.len(), 3);
        for (_, schedule) in schedules {
            let name = schedule["Properties"]["Name"]
                .as_str()
                .expect("the schedule has a name of its own")
                .to_owned();
            assert!(name.contains(stack), "{name} does not name stack {stack}");
            assert!(
                name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{name} breaks EventBridge Scheduler's name rules"
            );
            // No GroupName: the default group, where names must be unique per account and
            // Region.
            assert!(schedule["Properties"].get("GroupName").is_none());
            names.push(name);
        }
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 9, "{names:?}");
}

/// Every Allow statement of every role and resource policy in `template`.
fn allow_statements(template: &Json) -> Vec<(String, Json)> {
    let mut found = Vec::new();
    for (name, r) in template["Resources"].as_object().unwrap() {
        let documents: Vec<&Json> = match r["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => r["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| &p["PolicyDocument"])
                .collect(),
            "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy"
            | "AWS::SQS::QueuePolicy"
            | "AWS::S3::BucketPolicy" => vec![&r["Properties"]["PolicyDocument"]],
            _ => continue,
        };
        for document in documents {
            let statements = match &document["Statement"] {
                Json::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            for statement in statements {
                if statement["Effect"] == "Allow" {
                    found.push((name.clone(), statement));
                }
            }
        }
    }
    found
}

fn as_list(value: &Json) -> Vec<Json> {
    match value {
        Json::Array(items) => items.clone(),
        Json::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

#[test]
fn no_deployed_iam_statement_names_no_resource_or_every_resource() {
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    for ((set, _), template) in names.iter().zip(deployed_all(&names)) {
        let statements = allow_statements(&template);
        assert!(statements.len() >= 3, "{set}: {statements:?}");
        for (owner, statement) in statements {
            let resources = as_list(&statement["Resource"]);
            assert!(
                !resources.is_empty(),
                "{set}: {owner} allows {statement} on nothing named"
            );
            for resource in resources {
                if let Some(arn) = resource.as_str() {
                    assert!(
                        !arn.trim().is_empty() && arn != "*" && !arn.ends_with(":*"),
                        "{set}: {owner} allows {} on {arn:?}",
                        statement["Action"]
                    );
                }
            }
            for action in as_list(&statement["Action"]) {
                let action = action.as_str().unwrap_or_default();
                assert!(
                    action != "*" && !action.ends_with(":*"),
                    "{set}: {owner} allows {action}"
                );
            }
        }
    }
}

#[test]
fn without_a_database_nothing_is_subscribed_to_load() {
    let sets = ["default", "s3-athena-only"];
    for (set, template) in sets
        .into_iter()
        .zip(deployed_all(&sets.map(|s| (s, &[][..]))))
    {
        let functions: Vec<&str> = of_type(&template, "AWS::Lambda::Function")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            functions,
            ["CompactFunction", "IngestFunction", "KlinesFunction"],
            "{set}"
        );
        assert!(of_type(&template, "AWS::Lambda::Url").is_empty(), "{set}");
        // The only subscriber is compact's late-snapshot rule, through EventBridge.
        let (rules, permissions) = routes_to(&template, "CompactFunction");
        assert_eq!(
            (rules.len(), permissions.len()),
            (
                of_type(&template, "AWS::Events::Rule").len(),
                of_type(&template, "AWS::Lambda::Permission").len()
            ),
            "{set}: something but compact is invoked"
        );
        assert_eq!(
            property(&template, "DataBucket", "NotificationConfiguration"),
            &json!({ "EventBridgeConfiguration": { "EventBridgeEnabled": true } }),
            "{set}: the bucket notifies a function directly"
        );
        let names: Vec<&String> = template["Resources"].as_object().unwrap().keys().collect();
        assert!(
            names
                .iter()
                .all(|n| !n.starts_with("Load") && !n.starts_with("Api")),
            "{set}: {names:?}"
        );
        let outputs = template["Outputs"].as_object().unwrap();
        assert!(outputs.contains_key("BucketName") && outputs.contains_key("GlueDatabaseName"));
        assert!(!outputs.contains_key("DashboardUrl") && !outputs.contains_key("LoadFunctionName"));
        // The dead-letter alarm still watches ingest's and the schedule's queues.
        let alarm = property(&template, "DeadLetterAlarm", "Metrics").to_string();
        assert!(
            alarm.contains("IngestFailureQueue") && alarm.contains("IngestScheduleDeadLetterQueue")
        );
    }
}

#[test]
fn with_a_database_snapshots_reach_load_by_exactly_one_route() {
    // The default route: the bucket's notification, for the layout's CSV objects only.
    let sets = ["vpc-postgres", "public-url-token", "data-api"];
    for (set, template) in sets
        .into_iter()
        .zip(deployed_all(&sets.map(|s| (s, &[][..]))))
    {
        let bucket = bucket_name(&template);
        let notification = property(&template, "DataBucket", "NotificationConfiguration");
        // EventBridge too, for compact's rule (checked in its own test), not for load.
        assert_eq!(
            notification["EventBridgeConfiguration"],
            json!({ "EventBridgeEnabled": true })
        );
        let configurations = notification["LambdaConfigurations"].as_array().unwrap();
        assert_eq!(configurations.len(), 1, "{set}");
        let configuration = &configurations[0];
        assert_eq!(configuration["Event"], "s3:ObjectCreated:*");
        assert_eq!(
            configuration["Function"],
            json!({ "Fn::GetAtt": ["LoadFunction", "Arn"] })
        );
        assert_eq!(
            configuration["Filter"]["S3Key"]["Rules"],
            json!([{ "Name": "prefix", "Value": RAW_PREFIX }, { "Name": "suffix", "Value": ".csv" }])
        );
        let permissions = of_type(&template, "AWS::Lambda::Permission");
        let (permission, s3) = permissions
            .iter()
            .find(|(_, p)| p["Properties"]["Principal"] == "s3.amazonaws.com")
            .unwrap_or_else(|| panic!("{set}: S3 may not invoke load"));
        assert_eq!(
            s3["Properties"]["FunctionName"],
            json!({ "Ref": "LoadFunction" })
        );
        assert_eq!(
            s3["Properties"]["SourceArn"],
            format!("arn:aws:s3:::{bucket}")
        );
        assert_eq!(s3["Properties"]["SourceAccount"], "123456789012");
        // S3 checks the permission when the notification is put: the bucket must wait for it.
        assert!(
            property(&template, "DataBucket", "Tags")
                .to_string()
                .contains(&json!({ "Ref": permission }).to_string()),
            "{set}: the bucket does not wait for {permission}"
        );
        let (rules, load_permissions) = routes_to(&template, "LoadFunction");
        assert!(rules.is_empty(), "{set}");
        assert_eq!(load_permissions, [&s3["Properties"]], "{set}");
    }

    // The EventBridge route: the bucket sends its events to EventBridge, a rule picks the
    // snapshots, and nothing else invokes load.
    let template = deployed("eventbridge", &[]);
    assert_eq!(
        property(&template, "DataBucket", "NotificationConfiguration"),
        &json!({ "EventBridgeConfiguration": { "EventBridgeEnabled": true } })
    );
    let (rules, _) = routes_to(&template, "LoadFunction");
    assert_eq!(rules.len(), 1);
    let (rule, definition) = rules[0];
    let pattern = &definition["Properties"]["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.s3"]));
    assert_eq!(pattern["detail-type"], json!(["Object Created"]));
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        json!([{ "Ref": "DataBucket" }])
    );
    assert_eq!(
        pattern["detail"]["object"]["key"],
        json!([{ "wildcard": format!("{RAW_PREFIX}*.csv") }])
    );
    let targets = definition["Properties"]["Targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(
        targets[0]["Arn"],
        json!({ "Fn::GetAtt": ["LoadFunction", "Arn"] })
    );
    assert_eq!(
        targets[0]["DeadLetterConfig"]["Arn"],
        json!({ "Fn::GetAtt": ["LoadFailureQueue", "Arn"] })
    );
    let permissions: Vec<&Json> = of_type(&template, "AWS::Lambda::Permission")
        .into_iter()
        .map(|(_, p)| &p["Properties"])
        .filter(|p| p["FunctionName"] == json!({ "Ref": "LoadFunction" }))
        .collect();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    assert_eq!(permissions[0]["Principal"], "events.amazonaws.com");
    assert_eq!(
        permissions[0]["SourceArn"],
        json!({ "Fn::GetAtt": [rule, "Arn"] })
    );
    // EventBridge may put what it could not deliver into load's failure queue, and only it.
    let queue_policies: Vec<(&str, &Json)> = of_type(&template, "AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["Queues"] == json!([{ "Ref": "LoadFailureQueue" }]))
        .collect();
    assert_eq!(queue_policies.len(), 1);
    let statement = &queue_policies[0].1["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        statement["Principal"],
        json!({ "Service": "events.amazonaws.com" })
    );
    assert_eq!(
        statement["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({ "Fn::GetAtt": [rule, "Arn"] })
    );
}

#[test]
fn the_secrets_manager_endpoint_has_its_own_group_admitting_https_from_the_function_groups() {
    let cases = [
        (&[][..], &["sg-0load", "sg-0db"][..]),
        (
            &["SecurityGroupIds=sg-1,sg-2,sg-3,sg-4,sg-5"][..],
            &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5"][..],
        ),
        (&["SecurityGroupIds=sg-only"][..], &["sg-only"][..]),
    ];
    let templates = deployed_all(&cases.map(|(extra, _)| ("vpc-postgres", extra)));
    for ((extra, groups), template) in cases.into_iter().zip(templates) {
        assert_eq!(
            property(&template, "SecretsManagerEndpoint", "SecurityGroupIds"),
            &json!([{ "Ref": "SecretsManagerEndpointSecurityGroup" }])
        );
        assert_eq!(
            property(&template, "SecretsManagerEndpoint", "PrivateDnsEnabled"),
            true
        );
        assert_eq!(
            property(&template, "SecretsManagerEndpoint", "SubnetIds"),
            &json!(["subnet-0aaa", "subnet-0bbb"])
        );
        assert_eq!(
            property(&template, "SecretsManagerEndpointSecurityGroup", "VpcId"),
            "vpc-0abc"
        );
        let mut sources: Vec<&str> = of_type(&template, "AWS::EC2::SecurityGroupIngress")
            .into_iter()
            .map(|(_, rule)| {
                let p = &rule["Properties"];
                assert_eq!(
                    p["GroupId"],
                    json!({ "Fn::GetAtt": ["SecretsManagerEndpointSecurityGroup", "GroupId"] })
                );
                assert_eq!(
                    (&p["IpProtocol"], &p["FromPort"], &p["ToPort"]),
                    (&json!("tcp"), &json!(443), &json!(443))
                );
                p["SourceSecurityGroupId"].as_str().unwrap()
            })
            .collect();
        sources.sort_unstable();
        let mut expected = groups.to_vec();
        expected.sort_unstable();
        assert_eq!(sources, expected, "{extra:?}");
        for function in ["LoadFunction", "ApiFunction"] {
            assert_eq!(
                property(&template, function, "VpcConfig/SecurityGroupIds"),
                &json!(groups),
                "{function} {extra:?}"
            );
        }
    }
    let without = deployed("vpc-postgres", &["CreateSecretsManagerEndpoint=false"]);
    assert!(of_type(&without, "AWS::EC2::SecurityGroup").is_empty());
    assert!(of_type(&without, "AWS::EC2::SecurityGroupIngress").is_empty());
    assert!(resource(&without, "SecretsManagerEndpoint").is_none());
    assert!(resource(&without, "S3GatewayEndpoint").is_some());
}

#[test]
fn reserved_concurrency_is_set_only_when_given() {
    let [unreserved, reserved] = <[Json; 2]>::try_from(deployed_all(&[
        ("public-url-token", &[]),
        ("vpc-postgres", &[]),
    ]))
    .unwrap();
    for function in ["LoadFunction", "ApiFunction"] {
        assert!(
            property(&unreserved, function, "")
                .get("ReservedConcurrentExecutions")
                .is_none(),
            "{function} reserves concurrency by default"
        );
    }
    assert_eq!(
        property(&reserved, "LoadFunction", "ReservedConcurrentExecutions"),
        "5"
    );
    assert_eq!(
        property(&reserved, "ApiFunction", "ReservedConcurrentExecutions"),
        "10"
    );
    assert!(property(&reserved, "IngestFunction", "")
        .get("ReservedConcurrentExecutions")
        .is_none());
    // compact is the exception: one at a time unless the account cannot reserve any.
    assert_eq!(
        property(
            &unreserved,
            "CompactFunction",
            "ReservedConcurrentExecutions"
        ),
        "1"
    );
    let quota_bound = deployed("default", &["CompactReservedConcurrency="]);
    assert!(property(&quota_bound, "CompactFunction", "")
        .get("ReservedConcurrentExecutions")
        .is_none());
}

#[test]
fn network_interface_permissions_come_from_sams_managed_policy_alone() {
    let template = deployed("vpc-postgres", &[]);
    for role in ["LoadFunctionRole", "ApiFunctionRole"] {
        let managed = property(&template, role, "ManagedPolicyArns");
        assert!(
            managed.as_array().unwrap().contains(&json!(
                "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
            )),
            "{role}: {managed}"
        );
    }
    for (owner, statement) in allow_statements(&template) {
        for action in as_list(&statement["Action"]) {
            assert!(
                !action.as_str().unwrap_or_default().starts_with("ec2:"),
                "{owner} grants {action} itself"
            );
        }
    }
}

#[test]
fn a_stack_created_again_under_the_same_name_gets_a_new_bucket_and_no_named_secret() {
    let upper_case_stack = format!("CoinLake{}", "-X".repeat(60));
    let [first, again, upper] = <[Json; 3]>::try_from(deployed_all(&[
        (
            "default",
            &[
                "--stack-id",
                "arn:aws:cloudformation:us-east-1:123456789012:stack/coinlake/51af3dc0-da77-11e4-872e-1234567db123",
            ],
        ),
        (
            "default",
            &[
                "--stack-id",
                "arn:aws:cloudformation:us-east-1:123456789012:stack/coinlake/0b4f6e20-8f1a-11f0-9c2d-0a1b2c3d4e5f",
            ],
        ),
        ("default", &["--stack-name", &upper_case_stack]),
    ]))
    .unwrap();
    let (old, new) = (bucket_name(&first), bucket_name(&again));
    assert_ne!(old, new, "the retained bucket's name would be taken");
    for template in [&first, &again] {
        // The bucket outlives the stack; the secret is unnamed, so a deleted one pending
        // its recovery window blocks nothing.
        assert_eq!(
            resource(template, "DataBucket").unwrap()["DeletionPolicy"],
            "Retain"
        );
        assert!(property(template, "CmcApiKeySecret", "")
            .get("Name")
            .is_none());
        let bucket = bucket_name(template);
        assert_eq!(
            property(
                template,
                "IngestFunction",
                "Environment/Variables/BUCKET_NAME"
            ),
            bucket.as_str()
        );
        assert!(allow_statements(template)
            .iter()
            .any(|(_, s)| s["Resource"] == format!("arn:aws:s3:::{bucket}/raw/*")));
    }
    // Bucket names are lower case and at most 63 characters, whatever the stack is called.
    let name = bucket_name(&upper);
    assert!(
        name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{name}"
    );
}

#[test]
fn the_data_api_set_reaches_only_its_cluster() {
    let template = deployed("data-api", &[]);
    let cluster = "arn:aws:rds:us-east-1:123456789012:cluster:coinlake";
    for function in ["LoadFunction", "ApiFunction"] {
        let env = property(&template, function, "Environment/Variables");
        assert_eq!(env["DB_CLUSTER_ARN"], cluster);
        assert!(env.get("DB_HOST").is_none(), "{function}: {env}");
        assert!(property(&template, function, "").get("VpcConfig").is_none());
    }
    let data_api: Vec<Json> = allow_statements(&template)
        .into_iter()
        .filter(|(_, s)| s.to_string().contains("rds-data:"))
        .map(|(_, s)| s["Resource"].clone())
        .collect();
    assert_eq!(data_api, [json!(cluster), json!(cluster)]);
}

#[test]
fn impossible_parameter_sets_are_refused_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["DbSink=data-api"], "DbSink=data-api needs DbClusterArn"),
        (
            &[
                "DbSink=data-api",
                "DbClusterArn=arn:aws:rds:us-east-1:1:cluster:c",
            ],
            "DbSink=data-api needs DbSecretArn",
        ),
        (
            &["--set", "data-api", "DbHost=db.example"],
            "DbHost is for DbSink=postgres",
        ),
        (&["DbHost=db.example"], "DbHost needs DbSecretArn"),
        (
            &["DbSecretArn=arn:aws:secretsmanager:us-east-1:1:secret:s"],
            "DbSecretArn is set but DbHost is empty",
        ),
        (
            &[
                "--set",
                "public-url-token",
                "DbClusterArn=arn:aws:rds:us-east-1:1:cluster:c",
            ],
            "DbClusterArn is for DbSink=data-api",
        ),
        (
            &["--set", "vpc-postgres", "SecurityGroupIds="],
            "SubnetIds and SecurityGroupIds go together",
        ),
        (
            &["--set", "vpc-postgres", "SubnetIds="],
            "SubnetIds and SecurityGroupIds go together",
        ),
        (
            &["--set", "vpc-postgres", "VpcId="],
            "RouteTableIds needs VpcId",
        ),
        (
            &[
                "--set",
                "public-url-token",
                "CreateSecretsManagerEndpoint=true",
            ],
            "CreateSecretsManagerEndpoint=true needs SubnetIds, SecurityGroupIds and VpcId",
        ),
        (
            &["CreateSecretsManagerEndpoint=true"],
            "CreateSecretsManagerEndpoint=true serves the load and api functions",
        ),
        (
            &["ApiDbSecretArn=arn:aws:secretsmanager:us-east-1:1:secret:r"],
            "ApiDbSecretArn is set but there is no database",
        ),
        (
            &["CmcSymbols="],
            "CmcMode=quotes needs CmcIds or CmcSymbols",
        ),
        (
            &["LoadReservedConcurrency=0"],
            "parameter LoadReservedConcurrency",
        ),
        (
            &["ApiReservedConcurrency=ten"],
            "parameter ApiReservedConcurrency",
        ),
        (&["LoadEventSource=sqs"], "parameter LoadEventSource"),
        (
            &["CompactReservedConcurrency=2"],
            "parameter CompactReservedConcurrency",
        ),
    ];
    let argv: Vec<Vec<&str>> = cases.iter().map(|(p, _)| p.to_vec()).collect();
    for ((parameters, reason), result) in cases.iter().zip(transform_all(&argv)) {
        match result {
            Ok(_) => panic!("{parameters:?} deployed; expected a refusal: {reason}"),
            Err((code, stderr)) => {
                assert_eq!(code, 2, "{parameters:?}: {stderr}");
                assert!(
                    stderr
                        .lines()
                        .any(|l| l.starts_with("refused: ") && l.contains(reason)),
                    "{parameters:?}: expected {reason:?} in {stderr}"
                );
            }
        }
    }
}

#[test]
fn the_klines_glue_table_has_the_klines_columns_read_like_quotes_csv() {
    let template = template();
    let columns = glue_columns(&template, "KlinesCsvTable");
    let expected: Vec<(String, String)> = KLINE_COLUMNS
        .iter()
        .map(|c| (c.name.to_owned(), "string".to_owned()))
        .collect();
    assert_eq!(columns, expected);
    let input = untag(at(
        &template,
        "Resources.KlinesCsvTable.Properties.TableInput",
    ));
    let quotes = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput",
    ));
    assert_eq!(text(at(input, "Name")), "klines_csv");
    let klines = Dataset::Klines.prefix();
    assert_eq!(
        text(at(input, "StorageDescriptor.Location")),
        format!("s3://${{DataBucket}}/{klines}")
    );
    let parameters = untag(at(input, "Parameters")).as_mapping().unwrap();
    assert_eq!(
        text(parameters.get("storage.location.template").unwrap()),
        format!("s3://${{DataBucket}}/{klines}year=${{!year}}/month=${{!month}}/day=${{!day}}/")
    );
    // The same reader as quotes_csv: SerDe, its settings, formats, header, projection.
    for path in [
        "StorageDescriptor.SerdeInfo",
        "StorageDescriptor.InputFormat",
        "StorageDescriptor.OutputFormat",
        "PartitionKeys",
        "TableType",
    ] {
        assert_eq!(at(input, path), at(quotes, path), "{path}");
    }
    let quote_parameters = untag(at(quotes, "Parameters")).as_mapping().unwrap();
    for (key, value) in quote_parameters {
        if text(key) != "storage.location.template" {
            assert_eq!(parameters.get(key), Some(value), "{}", text(key));
        }
    }
    assert_eq!(parameters.len(), quote_parameters.len());

    // The saved query reads the table and keeps one row per (symbol, open_time).
    let query = text(at(
        &template,
        "Resources.KlinesByMinuteQuery.Properties.QueryString",
    ));
    assert!(query.contains("FROM klines_csv"), "{query}");
    assert!(
        query.contains("PARTITION BY symbol, open_time") && query.contains("WHERE copy = 1"),
        "{query}"
    );
    for column in KLINE_COLUMNS {
        assert!(
            query.contains(column.name),
            "the query drops {}",
            column.name
        );
    }
}

#[test]
fn the_klines_function_runs_every_five_minutes_outside_any_vpc_writing_only_raw_klines() {
    let template = deployed("default", &[]);
    let function = property(&template, "KlinesFunction", "");
    assert!(function.get("VpcConfig").is_none());
    assert_eq!(function["MemorySize"], 256);
    // A backfill's share of a range; a slot run keeps to klines::handler::SLOT_RUN_BUDGET.
    assert_eq!(function["Timeout"], 900);
    assert!(klines::handler::SLOT_RUN_BUDGET.as_secs() < 300);
    assert_eq!(function["Architectures"], json!(["arm64"]));
    let env = &function["Environment"]["Variables"];
    assert_eq!(env["BUCKET_NAME"], bucket_name(&template).as_str());
    assert_eq!(env["BINANCE_BASE_URL"], coinlake::binance::DEFAULT_BASE_URL);
    assert_eq!(env["KLINES_SYMBOLS"], coinlake::config::DEFAULT_PAIRS);
    assert_eq!(
        env["BINANCE_ARCHIVE_URL"],
        coinlake::binance::DEFAULT_ARCHIVE_URL
    );

    // Every five minutes, the scheduled time as input, retried, undeliverable schedules
    // kept in their own queue.
    let schedules: Vec<&Json> = of_type(&template, "AWS::Scheduler::Schedule")
        .into_iter()
        .map(|(_, s)| &s["Properties"])
        .filter(|s| s["Target"]["Arn"] == json!({ "Fn::GetAtt": ["KlinesFunction", "Arn"] }))
        .collect();
    assert_eq!(schedules.len(), 1);
    let schedule = schedules[0];
    assert_eq!(schedule["Name"], "coinlake-klines");
    assert_eq!(schedule["ScheduleExpression"], "rate(5 minutes)");
    assert_eq!(schedule["FlexibleTimeWindow"], json!({ "Mode": "OFF" }));
    assert_eq!(
        serde_json::from_str::<Json>(schedule["Target"]["Input"].as_str().unwrap()).unwrap(),
        json!({ "scheduled_time": "<aws.scheduler.scheduled-time>" })
    );
    assert!(schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"].as_i64() > Some(0));
    assert_eq!(
        schedule["Target"]["DeadLetterConfig"]["Arn"],
        json!({ "Fn::GetAtt": ["KlinesScheduleDeadLetterQueue", "Arn"] })
    );
    let invoke = property(&template, "KlinesFunctionEventInvokeConfig", "");
    assert_eq!(
        invoke["DestinationConfig"]["OnFailure"]["Destination"],
        json!({ "Fn::GetAtt": ["KlinesFailureQueue", "Arn"] })
    );

    // Its role writes raw/klines/ and its failure queue, nothing else.
    let bucket = format!("arn:aws:s3:::{}", bucket_name(&template));
    let mut statements: Vec<Json> = allow_statements(&template)
        .into_iter()
        .filter(|(owner, _)| owner == "KlinesFunctionRole")
        .map(|(_, mut statement)| {
            statement.as_object_mut().unwrap().remove("Sid");
            statement
        })
        .collect();
    statements.sort_by_key(|s| s.to_string());
    assert_eq!(
        statements,
        [
            json!({ "Effect": "Allow", "Action": "s3:PutObject", "Resource": format!("{bucket}/raw/klines/*") }),
            json!({ "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": { "Fn::GetAtt": ["KlinesFailureQueue", "Arn"] } }),
        ]
    );
    // ...and may invoke itself, to continue a backfill, and nothing else.
    let continuing = property(&template, "KlinesContinuePolicy", "");
    assert_eq!(
        continuing["Roles"],
        json!([{ "Ref": "KlinesFunctionRole" }])
    );
    assert_eq!(
        continuing["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "ContinueBackfill",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": { "Fn::GetAtt": ["KlinesFunction", "Arn"] }
        }])
    );

    // Watched like ingest: errors, dead letters, and no success for three slots.
    assert_eq!(
        property(&template, "KlinesErrorsAlarm", "Dimensions"),
        &json!([{ "Name": "FunctionName", "Value": { "Ref": "KlinesFunction" } }])
    );
    let dead_letters = property(&template, "KlinesDeadLetterAlarm", "Metrics").to_string();
    for queue in ["KlinesFailureQueue", "KlinesScheduleDeadLetterQueue"] {
        assert!(dead_letters.contains(queue), "no alarm on {queue}");
    }
    assert_eq!(
        property(&template, "StaleKlinesAlarm", "TreatMissingData"),
        "breaching"
    );
    assert_eq!(
        property(&template, "KlinesLogGroup", "LogGroupName"),
        &json!({ "Fn::Sub": "/aws/lambda/${KlinesFunction}" })
    );
}

#[test]
fn klines_disabled_leaves_no_klines_resource_and_other_values_reach_the_function() {
    let [disabled, custom] = <[Json; 2]>::try_from(deployed_all(&[
        ("klines-disabled", &[]),
        ("s3-athena-only", &[]),
    ]))
    .unwrap();
    let text = disabled.to_string();
    assert!(!text.to_lowercase().contains("klines"), "{text}");
    // The quotes side is untouched.
    assert!(resource(&disabled, "IngestFunction").is_some());
    assert!(resource(&disabled, "QuotesCsvTable").is_some());

    let env = property(&custom, "KlinesFunction", "Environment/Variables");
    assert_eq!(env["KLINES_SYMBOLS"], "BTCUSDT,ETHBTC");
    assert_eq!(env["BINANCE_BASE_URL"], "https://api.binance.com");
    let refused = transform_all(&[vec!["KlinesSymbols=btcusdt"], vec!["KlinesSource=Off"]]);
    for result in refused {
        let (code, stderr) = result.expect_err("a bad klines parameter is refused");
        assert_eq!(code, 2, "{stderr}");
    }
}

#[test]
fn the_klines_source_parameter_says_binance_refuses_us_regions() {
    let description = text(at(&template(), "Parameters.KlinesSource.Description"));
    for part in ["451", "US", "AWS US regions", "allowed region", "Disabled"] {
        assert!(description.contains(part), "{part}: {description}");
    }
}

/// Whether an EventBridge `wildcard` pattern (`*` only) matches `key`.
fn wildcard_matches(pattern: &str, key: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !key.starts_with(first) || !key.ends_with(last) || key.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &key[first.len()..key.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn klines_objects_reach_load_by_either_route_and_never_compact() {
    let slot = coinlake::slot::Slot::containing(
        chrono::DateTime::parse_from_rfc3339("2024-06-01T12:35:00Z")
            .unwrap()
            .to_utc(),
    );
    let klines_key = coinlake::layout::object_key(Dataset::Klines, slot);
    let quotes_key = coinlake::layout::object_key(Dataset::Quotes, slot);
    let [notified, bridged] =
        <[Json; 2]>::try_from(deployed_all(&[("vpc-postgres", &[]), ("eventbridge", &[])]))
            .unwrap();

    // The S3 notification's prefix and suffix.
    let rules = &property(&notified, "DataBucket", "NotificationConfiguration")
        ["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"];
    let (prefix, suffix) = (
        rules[0]["Value"].as_str().unwrap(),
        rules[1]["Value"].as_str().unwrap(),
    );
    assert!(klines_key.starts_with(prefix) && klines_key.ends_with(suffix));

    // The EventBridge rules: load's matches klines objects, compact's only quotes.
    let pattern_of = |function: &str| {
        let (rules, _) = routes_to(&bridged, function);
        rules[0].1["Properties"]["EventPattern"]["detail"]["object"]["key"][0]["wildcard"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let load = pattern_of("LoadFunction");
    assert!(wildcard_matches(&load, &klines_key), "{load}");
    assert!(wildcard_matches(&load, &quotes_key), "{load}");
    let compact = pattern_of("CompactFunction");
    assert!(!wildcard_matches(&compact, &klines_key), "{compact}");
    assert!(wildcard_matches(&compact, &quotes_key), "{compact}");
}

// ------------------------------------------------------------------------------------------
// Alerts (docs/alerts.md): the topic the load function publishes to, its e-mail
// subscription, the five-minute alerts schedule and the SNS endpoint option.

/// The sets with a database: the load function, and so the alert topic, exist.
const SETS_WITH_LOAD: [&str; 6] = [
    "vpc-postgres",
    "public-url-token",
    "data-api",
    "eventbridge",
    "klines-disabled",
    "alerts-vpc-endpoints",
];

#[test]
fn the_alert_topic_is_the_only_resource_sns_publish_names_and_only_load_publishes() {
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    for ((set, _), template) in names.iter().zip(deployed_all(&names)) {
        let publishers: Vec<(String, Json)> = allow_statements(&template)
            .into_iter()
            .filter(|(_, s)| {
                as_list(&s["Action"])
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| a.starts_with("sns:")))
            })
            .collect();
        let has_load = resource(&template, "LoadFunction").is_some();
        assert_eq!(has_load, SETS_WITH_LOAD.contains(set), "{set}");
        if !has_load {
            assert!(publishers.is_empty(), "{set}: {publishers:?}");
            assert!(resource(&template, "AlertTopic").is_none(), "{set}");
            assert!(of_type(&template, "AWS::SNS::Subscription").is_empty());
            assert!(!template["Outputs"]
                .as_object()
                .unwrap()
                .contains_key("AlertTopicArn"));
            continue;
        }
        assert_eq!(publishers.len(), 1, "{set}: {publishers:?}");
        let (owner, statement) = &publishers[0];
        assert_eq!(owner, "LoadFunctionRole", "{set}");
        assert_eq!(statement["Action"], "sns:Publish", "{set}");
        assert_eq!(
            statement["Resource"],
            json!({ "Ref": "AlertTopic" }),
            "{set}"
        );
        // Encrypted (the AWS-managed SNS key: the publisher needs no KMS statement).
        assert_eq!(
            property(&template, "AlertTopic", "KmsMasterKeyId"),
            "alias/aws/sns"
        );
        // The variable alert delivery reads names that topic; no other function has it.
        for (name, function) in of_type(&template, "AWS::Lambda::Function") {
            let topic = function["Properties"]["Environment"]["Variables"].get("ALERT_TOPIC_ARN");
            if name == "LoadFunction" {
                assert_eq!(topic, Some(&json!({ "Ref": "AlertTopic" })), "{set}");
            } else {
                assert_eq!(topic, None, "{set}: {name}");
            }
        }
        assert_eq!(
            template["Outputs"]["AlertTopicArn"]["Value"],
            json!({ "Ref": "AlertTopic" })
        );
    }
}

#[test]
fn the_alerts_schedule_sends_load_the_agreed_event_every_five_minutes() {
    let input = text(at(
        &template(),
        "Resources.LoadFunction.Properties.Events.Alerts.Properties.Input",
    ));
    assert_eq!(
        serde_json::from_str::<Json>(&input).expect("Input is JSON"),
        json!({ "alerts": { "scheduled_time": "<aws.scheduler.scheduled-time>" } })
    );
    // What the Scheduler sends once it has put the time in.
    let sent = input.replace("<aws.scheduler.scheduled-time>", "2024-06-02T01:05:00Z");
    assert_eq!(
        load::event::LoadEvent::parse(&serde_json::from_str(&sent).unwrap())
            .expect("load accepts the alerts schedule's input"),
        load::event::LoadEvent::Alerts {
            at: Some("2024-06-02T01:05:00Z".parse().unwrap())
        }
    );
    let template = deployed("vpc-postgres", &["--stack-name", "coinlake-prod"]);
    let alerts: Vec<&Json> = of_type(&template, "AWS::Scheduler::Schedule")
        .into_iter()
        .map(|(_, s)| &s["Properties"])
        .filter(|s| s["Target"]["Input"].as_str() == Some(input.as_str()))
        .collect();
    assert_eq!(alerts.len(), 1, "one alerts schedule");
    let schedule = alerts[0];
    assert_eq!(schedule["Name"], "coinlake-prod-alerts");
    assert_eq!(schedule["ScheduleExpression"], "rate(5 minutes)");
    assert_eq!(schedule["FlexibleTimeWindow"], json!({ "Mode": "OFF" }));
    assert_eq!(
        schedule["Target"]["Arn"],
        json!({ "Fn::GetAtt": ["LoadFunction", "Arn"] })
    );
    assert_eq!(
        schedule["Target"]["RetryPolicy"],
        json!({ "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600 })
    );
    // Undeliverable schedules wait in a queue of their own, which the dead-letter alarm
    // watches.
    assert_eq!(
        schedule["Target"]["DeadLetterConfig"]["Arn"],
        json!({ "Fn::GetAtt": ["LoadAlertsDeadLetterQueue", "Arn"] })
    );
    let alarm = property(&template, "DeadLetterAlarm", "Metrics").to_string();
    assert!(alarm.contains("LoadAlertsDeadLetterQueue"), "{alarm}");
}

#[test]
fn the_alert_email_is_subscribed_exactly_when_given() {
    let [with, without] = <[Json; 2]>::try_from(deployed_all(&[
        ("data-api", &[]),
        ("data-api", &["AlertEmail="]),
    ]))
    .unwrap();
    let subscriptions = of_type(&with, "AWS::SNS::Subscription");
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(
        subscriptions[0].1["Properties"],
        json!({
            "TopicArn": { "Ref": "AlertTopic" },
            "Protocol": "email",
            "Endpoint": "alerts@example.com"
        })
    );
    assert!(of_type(&without, "AWS::SNS::Subscription").is_empty());
    assert!(resource(&without, "AlertTopic").is_some());
    // The alarm topic's e-mail is a parameter of its own.
    assert!(resource(&with, "AlarmTopic").unwrap()["Properties"]["Subscription"].is_null());
}

#[test]
fn the_sns_endpoint_option_is_built_like_the_secrets_manager_one() {
    let cases = [
        (&[][..], &["sg-0load", "sg-0db"][..]),
        (
            &["SecurityGroupIds=sg-1,sg-2,sg-3,sg-4,sg-5"][..],
            &["sg-1", "sg-2", "sg-3", "sg-4", "sg-5"][..],
        ),
        (&["SecurityGroupIds=sg-only"][..], &["sg-only"][..]),
    ];
    let templates = deployed_all(&cases.map(|(extra, _)| ("alerts-vpc-endpoints", extra)));
    for ((extra, groups), template) in cases.into_iter().zip(templates) {
        for (endpoint, group, service) in [
            (
                "SnsEndpoint",
                "SnsEndpointSecurityGroup",
                "com.amazonaws.us-east-1.sns",
            ),
            (
                "SecretsManagerEndpoint",
                "SecretsManagerEndpointSecurityGroup",
                "com.amazonaws.us-east-1.secretsmanager",
            ),
        ] {
            let p = &resource(&template, endpoint).unwrap()["Properties"];
            assert_eq!(p["ServiceName"], service);
            assert_eq!(p["VpcEndpointType"], "Interface");
            assert_eq!(p["PrivateDnsEnabled"], true);
            assert_eq!(p["VpcId"], "vpc-0abc");
            assert_eq!(p["SubnetIds"], json!(["subnet-0aaa", "subnet-0bbb"]));
            assert_eq!(p["SecurityGroupIds"], json!([{ "Ref": group }]));
            assert_eq!(property(&template, group, "VpcId"), "vpc-0abc");
            let mut sources: Vec<&str> = of_type(&template, "AWS::EC2::SecurityGroupIngress")
                .into_iter()
                .map(|(_, rule)| &rule["Properties"])
                .filter(|p| p["GroupId"] == json!({ "Fn::GetAtt": [group, "GroupId"] }))
                .map(|p| {
                    assert_eq!(
                        (&p["IpProtocol"], &p["FromPort"], &p["ToPort"]),
                        (&json!("tcp"), &json!(443), &json!(443))
                    );
                    p["SourceSecurityGroupId"].as_str().unwrap()
                })
                .collect();
            sources.sort_unstable();
            let mut expected = groups.to_vec();
            expected.sort_unstable();
            assert_eq!(sources, expected, "{endpoint} {extra:?}");
        }
        assert_eq!(
            property(&template, "LoadFunction", "VpcConfig/SecurityGroupIds"),
            &json!(groups)
        );
    }
    let without = deployed("alerts-vpc-endpoints", &["CreateSnsEndpoint=false"]);
    assert!(resource(&without, "SnsEndpoint").is_none());
    assert!(resource(&without, "SnsEndpointSecurityGroup").is_none());
    assert!(resource(&without, "SecretsManagerEndpoint").is_some());
    // Off by default, like the Secrets Manager endpoint.
    assert!(resource(&deployed("vpc-postgres", &[]), "SnsEndpoint").is_none());
}

#[test]
fn alert_options_without_what_they_serve_are_refused_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["AlertEmail=ops@example.com"],
            "AlertEmail is set but there is no database",
        ),
        (
            &["CreateSnsEndpoint=true"],
            "CreateSnsEndpoint=true serves the load function's alerts",
        ),
        (
            &["--set", "public-url-token", "CreateSnsEndpoint=true"],
            "CreateSnsEndpoint=true needs SubnetIds, SecurityGroupIds and VpcId",
        ),
        (
            &["--set", "vpc-postgres", "CreateSnsEndpoint=yes"],
            "parameter CreateSnsEndpoint",
        ),
    ];
    let argv: Vec<Vec<&str>> = cases.iter().map(|(p, _)| p.to_vec()).collect();
    for ((parameters, reason), result) in cases.iter().zip(transform_all(&argv)) {
        match result {
            Ok(_) => panic!("{parameters:?} deployed; expected a refusal: {reason}"),
            Err((code, stderr)) => {
                assert_eq!(code, 2, "{parameters:?}: {stderr}");
                assert!(
                    stderr
                        .lines()
                        .any(|l| l.starts_with("refused: ") && l.contains(reason)),
                    "{parameters:?}: expected {reason:?} in {stderr}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The operator dashboard: the metrics `coinlake::metrics` writes, and the stack's alarms.

/// The deployed dashboard's body as JSON, each `${Name}` a `<Name>` (the deployed body is
/// an Fn::Join of text and Fn::Sub pieces: it names resources).
fn dashboard(template: &Json) -> Json {
    let text: String = match property(template, "OperatorDashboard", "DashboardBody") {
        Json::String(text) => text.clone(),
        joined => joined["Fn::Join"][1]
            .as_array()
            .expect("the body is an Fn::Join")
            .iter()
            .map(|piece| match piece {
                Json::String(text) => text.clone(),
                sub => sub["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a piece of the body is {sub}"))
                    .to_owned(),
            })
            .collect(),
    };
    let mut resolved = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("${ is closed");
        resolved.push_str(&rest[..start]);
        resolved.push('<');
        resolved.push_str(&rest[start + 2..end]);
        resolved.push('>');
        rest = &rest[end + 1..];
    }
    resolved.push_str(rest);
    serde_json::from_str(&resolved)
        .unwrap_or_else(|e| panic!("the dashboard's body is not JSON ({e}): {resolved}"))
}

fn widgets<'a>(dashboard: &'a Json, kind: &str) -> Vec<&'a Json> {
    dashboard["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter(|w| w["type"] == kind)
        .collect()
}

#[test]
fn every_metric_the_dashboard_names_is_one_the_code_emits() {
    use coinlake::metrics::{CATALOGUE, NAMESPACE};
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    for ((set, _), template) in names.iter().zip(deployed_all(&names)) {
        let dashboard = dashboard(&template);
        let mut shown = std::collections::BTreeSet::new();
        for widget in widgets(&dashboard, "metric") {
            let properties = &widget["properties"];
            assert_eq!(properties["region"], "us-east-1", "{set}: {widget}");
            for row in properties["metrics"].as_array().unwrap() {
                let row = row.as_array().unwrap();
                assert_eq!(row[0], NAMESPACE, "{set}: {row:?}");
                let name = row[1].as_str().unwrap();
                let dimensions: Vec<(&str, &str)> = row[2..]
                    .chunks(2)
                    .take_while(|pair| pair.len() == 2 && pair[0].is_string())
                    .map(|pair| (pair[0].as_str().unwrap(), pair[1].as_str().unwrap()))
                    .collect();
                let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
                let spec = CATALOGUE
                    .iter()
                    .find(|m| m.name == name && m.dimensions == keys.as_slice())
                    .unwrap_or_else(|| {
                        panic!("{set}: the dashboard shows {name} by {keys:?}, which no function writes")
                    });
                for (key, value) in dimensions {
                    match key {
                        "Function" => {
                            let function = value
                                .strip_prefix('<')
                                .and_then(|v| v.strip_suffix('>'))
                                .unwrap_or_else(|| panic!("{set}: Function {value}"));
                            assert_eq!(
                                resource(&template, function).map(|r| &r["Type"]),
                                Some(&json!("AWS::Lambda::Function")),
                                "{set}: {name} of {function}"
                            );
                        }
                        "Dataset" => assert!(
                            Dataset::ALL.iter().any(|d| d.name() == value),
                            "{set}: {name} of dataset {value}"
                        ),
                        "StatusClass" => assert!(
                            ["1xx", "2xx", "3xx", "4xx", "5xx"].contains(&value),
                            "{set}: {value}"
                        ),
                        other => panic!("{set}: dimension {other}"),
                    }
                }
                shown.insert(spec.name);
            }
        }
        // With a database and klines, every metric the functions write is on the board.
        if resource(&template, "LoadFunction").is_some()
            && resource(&template, "KlinesFunction").is_some()
        {
            let all: std::collections::BTreeSet<&str> = CATALOGUE.iter().map(|m| m.name).collect();
            assert_eq!(shown, all, "{set}");
        }
    }
}

#[test]
fn the_dashboard_shows_every_alarm_of_the_stack_by_arn() {
    let sets = supported_sets();
    let names: Vec<(&str, &[&str])> = sets.keys().map(|s| (s.as_str(), &[][..])).collect();
    for ((set, _), template) in names.iter().zip(deployed_all(&names)) {
        let dashboard = dashboard(&template);
        let mut shown: Vec<String> = widgets(&dashboard, "alarm")
            .into_iter()
            .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
            .map(|arn| arn.as_str().unwrap().to_owned())
            .collect();
        shown.sort();
        let mut alarms: Vec<String> = of_type(&template, "AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(name, _)| format!("<{name}.Arn>"))
            .collect();
        alarms.sort();
        assert_eq!(shown, alarms, "{set}");
        assert!(alarms.len() >= 4, "{set}");
    }
}
