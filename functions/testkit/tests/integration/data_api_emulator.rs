//! The Data API emulator driven through the real `aws-sdk-rdsdata` client, checked against
//! what a direct PostgreSQL connection sees.

use aws_sdk_rdsdata::error::ProvideErrorMetadata;
use aws_sdk_rdsdata::types::{Field, SqlParameter, TypeHint};
use aws_sdk_rdsdata::Client;
use testkit::data_api::{DataApiEmulator, Fault, FaultError, Operation};
use testkit::TestDatabase;

const CLUSTER: &str = "arn:aws:rds:us-east-1:123456789012:cluster:coinlake";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:coinlake";

const CREATE_TABLE: &str = "CREATE TABLE quotes (
    id bigint PRIMARY KEY,
    price numeric,
    at timestamptz NOT NULL,
    volume bigint,
    note text
)";

const INSERT: &str = "INSERT INTO quotes (id, price, at, volume, note) \
                      VALUES (:id, :price, :at, :volume, :note)";

struct Setup {
    // Declared first so the emulator (and its sessions) goes before the database is dropped.
    emulator: DataApiEmulator,
    client: Client,
    db: TestDatabase,
}

async fn setup() -> Setup {
    let db = TestDatabase::new().await;
    db.client().await.batch_execute(CREATE_TABLE).await.unwrap();
    let emulator = DataApiEmulator::start(&db.host, db.port).await;
    let sdk = testkit::s3::sdk_config(&emulator.endpoint).await;
    Setup {
        // As the sink builds it: the SDK's own retries off, so every fault reaches the caller.
        client: coinlake::aws::rds_data_client(&sdk, Some(&emulator.endpoint)),
        emulator,
        db,
    }
}

fn parameter(name: &str, value: Field, hint: Option<TypeHint>) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(value)
        .set_type_hint(hint)
        .build()
}

fn text(value: &str) -> Field {
    Field::StringValue(value.to_owned())
}

fn row(
    id: i64,
    price: Option<&str>,
    at: &str,
    volume: Option<i64>,
    note: &str,
) -> Vec<SqlParameter> {
    vec![
        parameter("id", Field::LongValue(id), None),
        match price {
            Some(price) => parameter("price", text(price), Some(TypeHint::Decimal)),
            None => parameter("price", Field::IsNull(true), None),
        },
        parameter("at", text(at), Some(TypeHint::Timestamp)),
        parameter(
            "volume",
            volume.map_or(Field::IsNull(true), Field::LongValue),
            None,
        ),
        parameter("note", text(note), None),
    ]
}

impl Setup {
    async fn begin(&self) -> String {
        let begun = self
            .client
            .begin_transaction()
            .resource_arn(CLUSTER)
            .secret_arn(SECRET)
            .database(&self.db.name)
            .send()
            .await
            .unwrap();
        begun.transaction_id.unwrap()
    }

    async fn execute(
        &self,
        transaction: Option<&str>,
        sql: &str,
        parameters: Vec<SqlParameter>,
    ) -> aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput {
        self.client
            .execute_statement()
            .resource_arn(CLUSTER)
            .secret_arn(SECRET)
            .database(&self.db.name)
            .set_transaction_id(transaction.map(str::to_owned))
            .sql(sql)
            .set_parameters(Some(parameters))
            .send()
            .await
            .unwrap()
    }

    async fn batch_insert(&self, transaction: &str, sets: Vec<Vec<SqlParameter>>) -> usize {
        let output = self
            .client
            .batch_execute_statement()
            .resource_arn(CLUSTER)
            .secret_arn(SECRET)
            .database(&self.db.name)
            .transaction_id(transaction)
            .sql(INSERT)
            .set_parameter_sets(Some(sets))
            .send()
            .await
            .unwrap();
        output.update_results().len()
    }

    /// Every row as text, read over a direct connection (session time zone UTC).
    async fn stored(&self) -> Vec<Vec<Option<String>>> {
        let rows = self
            .db
            .client()
            .await
            .query("SELECT id::text, price::text, at::text, volume::text, note FROM quotes ORDER BY id", &[])
            .await
            .unwrap();
        rows.iter()
            .map(|r| (0..5).map(|i| r.get::<_, Option<String>>(i)).collect())
            .collect()
    }
}

fn owned(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

#[tokio::test]
async fn transaction_batch_insert_commits_exact_values() {
    let setup = setup().await;
    let transaction = setup.begin().await;
    setup
        .execute(Some(&transaction), "SET LOCAL TIME ZONE 'UTC'", vec![])
        .await;

    let sets = vec![
        row(
            1,
            Some("65000.123456789012345678"),
            "2024-05-01 12:34:56.789",
            Some(9_007_199_254_740_993),
            "plain",
        ),
        row(
            2,
            None,
            "2024-05-01 00:00:00",
            None,
            "it's 10:30 :id -- not a comment",
        ),
        row(
            3,
            Some("-0.00000001"),
            "1999-12-31 23:59:59.999",
            Some(-5),
            "ünïcödé 'quoted' \\ backslash",
        ),
    ];
    assert_eq!(setup.batch_insert(&transaction, sets).await, 3);

    // Inside the transaction the rows are visible through the Data API, as text fields.
    let seen = setup
        .execute(
            Some(&transaction),
            "SELECT note, price FROM quotes WHERE id = :id",
            vec![parameter("id", Field::LongValue(2), None)],
        )
        .await;
    assert_eq!(
        seen.records(),
        [vec![
            text("it's 10:30 :id -- not a comment"),
            Field::IsNull(true)
        ]]
    );
    // ...but not to anyone else until the commit.
    assert!(setup.stored().await.is_empty());

    let committed = setup
        .client
        .commit_transaction()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .transaction_id(&transaction)
        .send()
        .await
        .unwrap();
    assert_eq!(
        committed.transaction_status(),
        Some("Transaction Committed")
    );

    assert_eq!(
        setup.stored().await,
        vec![
            owned(&[
                Some("1"),
                Some("65000.123456789012345678"),
                Some("2024-05-01 12:34:56.789+00"),
                Some("9007199254740993"),
                Some("plain")
            ]),
            owned(&[
                Some("2"),
                None,
                Some("2024-05-01 00:00:00+00"),
                None,
                Some("it's 10:30 :id -- not a comment")
            ]),
            owned(&[
                Some("3"),
                Some("-0.00000001"),
                Some("1999-12-31 23:59:59.999+00"),
                Some("-5"),
                Some("ünïcödé 'quoted' \\ backslash")
            ]),
        ]
    );
}

#[tokio::test]
async fn batches_near_the_request_limit_are_accepted() {
    let setup = setup().await;
    let transaction = setup.begin().await;
    let note = "x".repeat(3000);
    let sets = (0..1000)
        .map(|id| row(id, Some("1.5"), "2024-01-01 00:00:00", Some(id), &note))
        .collect();
    assert_eq!(setup.batch_insert(&transaction, sets).await, 1000);
    setup
        .client
        .commit_transaction()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .transaction_id(&transaction)
        .send()
        .await
        .unwrap();
    assert_eq!(setup.stored().await.len(), 1000);
}

#[tokio::test]
async fn rollback_leaves_nothing_and_ends_the_transaction() {
    let setup = setup().await;
    let transaction = setup.begin().await;
    setup
        .batch_insert(
            &transaction,
            vec![row(1, Some("1"), "2024-01-01 00:00:00", Some(1), "x")],
        )
        .await;

    let rolled_back = setup
        .client
        .rollback_transaction()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .transaction_id(&transaction)
        .send()
        .await
        .unwrap();
    assert_eq!(rolled_back.transaction_status(), Some("Rollback Complete"));
    assert!(setup.stored().await.is_empty());

    let again = setup
        .client
        .commit_transaction()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .transaction_id(&transaction)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(again.is_not_found_exception(), "{again:?}");

    let statement = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .transaction_id(&transaction)
        .sql("SELECT 1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        statement.is_transaction_not_found_exception(),
        "{statement:?}"
    );
}

#[tokio::test]
async fn records_updated_counts_only_inserted_rows() {
    let setup = setup().await;
    let seed = setup
        .execute(
            None,
            "INSERT INTO quotes (id, at) VALUES (1, :at), (2, :at)",
            vec![parameter(
                "at",
                text("2024-01-01 00:00:00"),
                Some(TypeHint::Timestamp),
            )],
        )
        .await;
    assert_eq!(seed.number_of_records_updated(), 2);
    assert!(seed.records().is_empty());

    let upsert = setup
        .execute(
            None,
            "INSERT INTO quotes (id, at) SELECT id, :at FROM generate_series(:first::bigint, :last) AS id \
             ON CONFLICT (id) DO NOTHING",
            vec![
                parameter("at", text("2024-01-02 00:00:00"), Some(TypeHint::Timestamp)),
                parameter("first", Field::LongValue(1), None),
                parameter("last", Field::LongValue(3), None),
            ],
        )
        .await;
    assert_eq!(upsert.number_of_records_updated(), 1);
    assert_eq!(setup.stored().await.len(), 3);
}

#[tokio::test]
async fn sql_errors_carry_the_postgresql_message() {
    let setup = setup().await;
    let error = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("SELECT * FROM no_such_table")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_database_error_exception(), "{error:?}");
    let message = error.message().unwrap_or_default();
    assert!(
        message.contains(r#"relation "no_such_table" does not exist"#),
        "{message}"
    );

    // A failing row in a batch surfaces the same way, and fails the whole transaction.
    let transaction = setup.begin().await;
    let batch = setup
        .client
        .batch_execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .transaction_id(&transaction)
        .sql(INSERT)
        .set_parameter_sets(Some(vec![
            row(1, Some("1"), "2024-01-01 00:00:00", None, "a"),
            row(1, Some("2"), "2024-01-01 00:00:00", None, "duplicate key"),
        ]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(batch.is_database_error_exception(), "{batch:?}");
    let message = batch.message().unwrap_or_default();
    assert!(
        message.contains("duplicate key value violates unique constraint"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_parameters_are_bad_requests() {
    let setup = setup().await;
    let error = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("SELECT :missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_bad_request_exception(), "{error:?}");

    let nul = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("SELECT :value")
        .parameters(parameter("value", text("a\0b"), None))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(nul.is_bad_request_exception(), "{nul:?}");
}

#[tokio::test]
async fn strings_are_character_varying_and_timestamps_need_the_documented_format() {
    let setup = setup().await;
    // A string into a numeric column needs the DECIMAL hint, as on Aurora.
    let untyped = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("INSERT INTO quotes (id, price, at) VALUES (1, :price, :at)")
        .parameters(parameter("price", text("1.5"), None))
        .parameters(parameter(
            "at",
            text("2024-01-01 00:00:00"),
            Some(TypeHint::Timestamp),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(untyped.is_database_error_exception(), "{untyped:?}");
    let message = untyped.message().unwrap_or_default();
    assert!(
        message.contains("character varying") && message.contains("SQLState: 42804"),
        "{message}"
    );

    // ISO 8601 with a zone is not the TIMESTAMP hint's format.
    let iso = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("SELECT :at")
        .parameters(parameter(
            "at",
            text("2024-01-01T00:00:00Z"),
            Some(TypeHint::Timestamp),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(iso.is_bad_request_exception(), "{iso:?}");
    assert!(setup.stored().await.is_empty());
}

#[tokio::test]
async fn scheduled_faults_answer_the_modelled_errors_then_stop() {
    let setup = setup().await;
    setup
        .emulator
        .inject(Fault::new(Operation::BeginTransaction, FaultError::DatabaseResuming).times(2));
    setup
        .emulator
        .inject(Fault::new(Operation::ExecuteStatement, FaultError::Throttling).skip(1));
    for _ in 0..2 {
        let error = setup
            .client
            .begin_transaction()
            .resource_arn(CLUSTER)
            .secret_arn(SECRET)
            .database(&setup.db.name)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
        let error = error.into_service_error();
        assert!(error.is_database_resuming_exception(), "{error:?}");
    }
    let transaction = setup.begin().await;
    setup.execute(None, "SELECT 1", vec![]).await;
    let throttled = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .database(&setup.db.name)
        .sql("SELECT 1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(throttled.code(), Some("ThrottlingException"));
    assert!(setup.emulator.faults_spent());
    assert_eq!(setup.emulator.calls(Operation::BeginTransaction), 3);
    assert_eq!(setup.emulator.calls(Operation::ExecuteStatement), 2);

    // A 504 after running: the commit happened although the caller saw an error.
    setup
        .execute(
            Some(&transaction),
            "INSERT INTO quotes (id, at) VALUES (7, now())",
            vec![],
        )
        .await;
    setup.emulator.inject(
        Fault::new(
            Operation::CommitTransaction,
            FaultError::DatabaseUnavailable,
        )
        .after_running(),
    );
    let lost = setup
        .client
        .commit_transaction()
        .resource_arn(CLUSTER)
        .secret_arn(SECRET)
        .transaction_id(&transaction)
        .send()
        .await
        .unwrap_err();
    assert_eq!(lost.raw_response().map(|r| r.status().as_u16()), Some(504));
    assert!(lost
        .into_service_error()
        .is_database_unavailable_exception());
    assert_eq!(setup.stored().await.len(), 1);
}
