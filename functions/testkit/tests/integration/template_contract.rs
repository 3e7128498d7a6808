//! `template.yaml` against the code: the binaries it builds, the environment it sets, the S3
//! prefixes it wires, the Glue columns and the typed Athena view all follow the schema and
//! configuration in `coinlake`, and no IAM statement grants `*`.

use coinlake::config::{API_VARIABLES, INGEST_VARIABLES, LOAD_VARIABLES};
use coinlake::layout::{Dataset, RAW_PREFIX};
use coinlake::schema::{ColumnType, QUOTE_COLUMNS};
use coinlake::slot::SLOT_YEARS;
use serde_norway::Value;

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
        ("LoadFunction", "load", "load"),
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
fn the_environment_the_template_sets_is_what_the_functions_read() {
    let template = template();
    for (function, known, required) in [
        (
            "IngestFunction",
            INGEST_VARIABLES,
            &["BUCKET_NAME", "CMC_API_KEY_SECRET_ARN"][..],
        ),
        (
            "LoadFunction",
            LOAD_VARIABLES,
            &["BUCKET_NAME", "DB_SINK", "DB_SECRET_ARN"][..],
        ),
        (
            "ApiFunction",
            API_VARIABLES,
            &["DB_SINK", "DB_SECRET_ARN", "API_DEFAULT_CURRENCY"][..],
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
fn the_schedule_input_is_the_event_ingest_accepts() {
    let input = text(at(
        &template(),
        "Resources.IngestFunction.Properties.Events.Schedule.Properties.Input",
    ));
    let json: serde_json::Value = serde_json::from_str(&input).expect("Input is JSON");
    assert_eq!(
        json,
        serde_json::json!({ "scheduled_time": "<aws.scheduler.scheduled-time>" })
    );
}

#[test]
fn s3_prefixes_follow_the_layout() {
    let template = template();
    let rules = untag(at(
        &template,
        "Resources.LoadFunction.Properties.Events.Snapshot.Properties.Filter.S3Key.Rules",
    ));
    let rule = |name: &str| {
        rules
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| text(at(r, "Name")) == name)
            .map(|r| text(at(r, "Value")))
            .unwrap()
    };
    assert_eq!(rule("prefix"), RAW_PREFIX);
    assert_eq!(rule("suffix"), ".csv");
    let quotes = Dataset::Quotes.prefix();
    assert!(text(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.StorageDescriptor.Location"
    ))
    .ends_with(&format!("-lake/{quotes}")));
    let parameters = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.Parameters",
    ));
    let location_template = text(parameters.get("storage.location.template").unwrap());
    assert!(
        location_template.ends_with(&format!(
            "-lake/{quotes}year=${{!year}}/month=${{!month}}/day=${{!day}}/"
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
    let parameters = untag(at(
        &template,
        "Resources.QuotesCsvTable.Properties.TableInput.Parameters",
    ));
    assert_eq!(
        text(parameters.get("projection.year.range").unwrap()),
        format!("{},{}", SLOT_YEARS.start(), SLOT_YEARS.end())
    );
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
        "Resources.CreateQuotesViewQuery.Properties.QueryString",
    ));
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
    for function in ["IngestFunction", "LoadFunction", "ApiFunction"] {
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
    let url = at(
        &template,
        "Resources.ApiFunction.Properties.FunctionUrlConfig",
    );
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
