//! Daily maintenance of the database, run by the load function (it reaches the database and,
//! through the S3 gateway endpoint, the bucket): the daily rollup of every complete day whose
//! quotes changed, then retention: a month of `quotes` goes, as a whole partition, only when
//! every day of it is older than the retention and verified in S3 and in the rollup.
//!
//! Verification of a day with rows in PostgreSQL: the day's silver object
//! (`curated/quotes/.../quotes_YYYY-MM-DD.parquet`) exists, its `rows` metadata equals the
//! day's `count(*)` (the two hold the same rows, see docs/database.md), and the day's rollup
//! was computed from that many rows.

pub mod sql;

use crate::db::{Database, DbError, Session};
use crate::layout::{curated_key, CuratedTable};
use crate::store::{ObjectReader, ReadError};
use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    /// The database failed; running maintenance again is safe.
    #[error("maintenance failed: {0}")]
    Database(#[from] DbError),
    /// S3 failed otherwise than "no such object"; running maintenance again is safe.
    #[error("maintenance failed verifying a day in S3: {0}")]
    S3(#[from] ReadError),
    /// An answer the statements cannot produce: the schema and the code disagree.
    #[error("maintenance failed: unexpected answer from the database: {0}")]
    Unexpected(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolledUpDay {
    pub day: NaiveDate,
    /// Quotes rows the day's candles were computed from.
    pub quote_rows: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DroppedMonth {
    /// `YYYY-MM`.
    pub month: String,
    pub partition: String,
    /// Days of the month that had rows, each verified.
    pub days: u64,
    pub rows: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeptMonth {
    pub month: String,
    pub partition: String,
    /// The first day that could not be verified, when that is the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    pub reason: String,
}

/// What one maintenance run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaintenanceSummary {
    /// The UTC day the run counts as today: every earlier day is complete.
    pub today: NaiveDate,
    pub retention_days: Option<u32>,
    /// The oldest day retention keeps; a month ending before it may go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_from: Option<NaiveDate>,
    pub days_rolled_up: Vec<RolledUpDay>,
    pub months_dropped: Vec<DroppedMonth>,
    /// Every partition retention looked at and kept, with why.
    pub months_kept: Vec<KeptMonth>,
}

pub struct Maintainer<R> {
    database: Database,
    objects: R,
    bucket: String,
    retention_days: Option<u32>,
    /// Apply pending migrations on first use (PostgreSQL only), as the sink does: a cold
    /// start's first invocation may be this one.
    migrate: bool,
    migrated: tokio::sync::OnceCell<()>,
}

/// One month partition, `quotes_YYYY_MM`.
struct Partition {
    name: String,
    start: NaiveDate,
    end: NaiveDate,
}

impl Partition {
    fn parse(name: &str) -> Option<Partition> {
        let rest = name.strip_prefix("quotes_")?;
        let (year, month) = rest.split_once('_')?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
        Some(Partition {
            name: name.to_owned(),
            start,
            end: start.checked_add_months(Months::new(1))?,
        })
    }

    fn month(&self) -> String {
        format!("{:04}-{:02}", self.start.year(), self.start.month())
    }

    fn kept(&self, day: Option<NaiveDate>, reason: impl Into<String>) -> KeptMonth {
        KeptMonth {
            month: self.month(),
            partition: self.name.clone(),
            day,
            reason: reason.into(),
        }
    }
}

/// Per day with rows: PostgreSQL's count.
type DayCounts = BTreeMap<NaiveDate, u64>;

impl<R: ObjectReader> Maintainer<R> {
    /// `bucket`: where the curated layer is; `retention_days`: `None` keeps every month.
    pub fn new(
        database: Database,
        objects: R,
        bucket: impl Into<String>,
        retention_days: Option<u32>,
    ) -> Maintainer<R> {
        Maintainer {
            database,
            objects,
            bucket: bucket.into(),
            retention_days,
            migrate: false,
            migrated: tokio::sync::OnceCell::new(),
        }
    }

    /// Applies pending migrations before the first run (PostgreSQL only).
    pub fn migrating(mut self, migrate: bool) -> Maintainer<R> {
        self.migrate = migrate;
        self
    }

    /// Rolls up the complete days that changed, then applies retention. Running it again
    /// changes nothing.
    pub async fn run(&self, today: NaiveDate) -> Result<MaintenanceSummary, MaintainError> {
        let mut session = Session::open(&self.database).await?;
        if let (Session::Postgres(client), true) = (&mut session, self.migrate) {
            self.migrated
                .get_or_try_init(|| async {
                    crate::db::migrate(client)
                        .await
                        .map(|_| ())
                        .map_err(|e| DbError::new(format!("PostgreSQL: {e}"), e))
                })
                .await?;
        }
        let mut days_rolled_up = roll_up(&session, today, &[]).await?;
        let keep_from = self
            .retention_days
            .map(|days| today - TimeDelta::days(i64::from(days)));
        let mut summary = MaintenanceSummary {
            today,
            retention_days: self.retention_days,
            keep_from,
            days_rolled_up: Vec::new(),
            months_dropped: Vec::new(),
            months_kept: Vec::new(),
        };
        if let Some(keep_from) = keep_from {
            for name in partitions(&session).await? {
                let Some(partition) = Partition::parse(&name) else {
                    summary.months_kept.push(KeptMonth {
                        month: String::new(),
                        partition: name,
                        day: None,
                        reason: "not a monthly partition named quotes_YYYY_MM".to_owned(),
                    });
                    continue;
                };
                if partition.end > keep_from {
                    summary.months_kept.push(partition.kept(
                        None,
                        format!("within the retention: days from {keep_from} are kept"),
                    ));
                    continue;
                }
                match self
                    .verify(&session, &partition, today, &mut days_rolled_up)
                    .await?
                {
                    Err(kept) => {
                        tracing::warn!(partition = partition.name, day = ?kept.day, reason = kept.reason, "month kept");
                        summary.months_kept.push(kept);
                    }
                    Ok(counts) => match drop_partition(&mut session, &partition, &counts).await? {
                        Ok(dropped) => {
                            tracing::info!(
                                partition = partition.name,
                                rows = dropped.rows,
                                "month dropped"
                            );
                            summary.months_dropped.push(dropped);
                        }
                        Err(kept) => summary.months_kept.push(kept),
                    },
                }
            }
        }
        days_rolled_up.sort_by_key(|d| d.day);
        days_rolled_up.dedup_by_key(|d| d.day);
        summary.days_rolled_up = days_rolled_up;
        Ok(summary)
    }

    /// The month's per-day counts when every day with rows is verified; otherwise the
    /// month kept, naming its first unverified day. A day whose rollup is missing or was
    /// computed from another count is rolled up first (rows loaded without a run, such as a
    /// hand-written insert, leave no mark for the rollup to find).
    async fn verify(
        &self,
        session: &Session,
        partition: &Partition,
        today: NaiveDate,
        rolled_up: &mut Vec<RolledUpDay>,
    ) -> Result<Result<DayCounts, KeptMonth>, MaintainError> {
        let mut rows = day_counts(session, partition).await?;
        let stale: Vec<String> = rows
            .iter()
            .filter(|(_, (count, rollup))| *rollup != Some(*count))
            .map(|(day, _)| day.to_string())
            .collect();
        if !stale.is_empty() {
            rolled_up.extend(roll_up(session, today, &stale).await?);
            rows = day_counts(session, partition).await?;
        }
        let mut counts = DayCounts::new();
        for (day, (count, rollup)) in rows {
            if rollup != Some(count) {
                let covered =
                    rollup.map_or("no rollup".to_owned(), |r| format!("a rollup of {r} rows"));
                return Ok(Err(partition.kept(
                    Some(day),
                    format!("PostgreSQL holds {count} rows of {day} but {covered}"),
                )));
            }
            let key = curated_key(CuratedTable::Quotes, day);
            let Some(metadata) = self.objects.metadata(&self.bucket, &key).await? else {
                return Ok(Err(partition.kept(
                    Some(day),
                    format!(
                        "s3://{}/{key} does not exist: compact the day first",
                        self.bucket
                    ),
                )));
            };
            let stored = metadata.get("rows").and_then(|r| r.parse::<u64>().ok());
            match stored {
                Some(stored) if stored == count => {}
                Some(stored) => {
                    return Ok(Err(partition.kept(
                        Some(day),
                        format!(
                            "s3://{}/{key} holds {stored} rows, PostgreSQL {count}: compact the day again",
                            self.bucket
                        ),
                    )))
                }
                None => {
                    return Ok(Err(partition.kept(
                        Some(day),
                        format!("s3://{}/{key} has no readable rows metadata", self.bucket),
                    )))
                }
            }
            counts.insert(day, count);
        }
        Ok(Ok(counts))
    }
}

async fn roll_up(
    session: &Session,
    today: NaiveDate,
    days: &[String],
) -> Result<Vec<RolledUpDay>, MaintainError> {
    let today = today.to_string();
    let days = days.join(",");
    let rows = session
        .query(sql::ROLL_UP, &[("today", &today), ("days", &days)])
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RolledUpDay {
                day: date(row, 0)?,
                quote_rows: count(row, 1)?,
            })
        })
        .collect()
}

async fn partitions(session: &Session) -> Result<Vec<String>, MaintainError> {
    let rows = session.query(sql::PARTITIONS, &[]).await?;
    rows.iter()
        .map(|row| cell(row, 0).map(str::to_owned))
        .collect()
}

/// Per day with rows: PostgreSQL's count and the rollup's (`None` without one).
async fn day_counts(
    session: &Session,
    partition: &Partition,
) -> Result<BTreeMap<NaiveDate, (u64, Option<u64>)>, MaintainError> {
    let from = partition.start.to_string();
    let to = partition.end.to_string();
    let rows = session
        .query(sql::DAY_COUNTS, &[("from", &from), ("to", &to)])
        .await?;
    rows.iter()
        .map(|row| {
            let rollup = match row.get(2).cloned().flatten() {
                Some(_) => Some(count(row, 2)?),
                None => None,
            };
            Ok((date(row, 0)?, (count(row, 1)?, rollup)))
        })
        .collect()
}

/// Detaches and drops the partition in one transaction, after checking that it still holds
/// exactly the rows verified (a late load may have added some since); otherwise keeps it.
async fn drop_partition(
    session: &mut Session,
    partition: &Partition,
    verified: &DayCounts,
) -> Result<Result<DroppedMonth, KeptMonth>, MaintainError> {
    session.begin().await?;
    let outcome = async {
        session.query(&sql::detach(&partition.name), &[]).await?;
        let rows = session
            .query(&sql::detached_counts(&partition.name), &[])
            .await?;
        let mut now = DayCounts::new();
        for row in &rows {
            now.insert(date(row, 0)?, count(row, 1)?);
        }
        if &now != verified {
            let day = now
                .iter()
                .find(|(day, n)| verified.get(day) != Some(n))
                .or_else(|| verified.iter().find(|(day, _)| !now.contains_key(day)))
                .map(|(day, _)| *day);
            return Ok(Err(partition.kept(
                day,
                "rows changed while it was verified (a late load); the next run verifies it again",
            )));
        }
        session.query(&sql::drop(&partition.name), &[]).await?;
        Ok::<_, MaintainError>(Ok(DroppedMonth {
            month: partition.month(),
            partition: partition.name.clone(),
            days: verified.len() as u64,
            rows: verified.values().sum(),
        }))
    }
    .await;
    match outcome {
        Ok(Ok(dropped)) => {
            session.commit().await?;
            Ok(Ok(dropped))
        }
        Ok(Err(kept)) => {
            session.rollback().await;
            Ok(Err(kept))
        }
        Err(error) => {
            session.rollback().await;
            Err(error)
        }
    }
}

fn cell(row: &[Option<String>], index: usize) -> Result<&str, MaintainError> {
    row.get(index)
        .and_then(|c| c.as_deref())
        .ok_or_else(|| MaintainError::Unexpected(format!("column {index} is null")))
}

fn date(row: &[Option<String>], index: usize) -> Result<NaiveDate, MaintainError> {
    let text = cell(row, index)?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| MaintainError::Unexpected(format!("column {index}: {text:?} is not a date")))
}

fn count(row: &[Option<String>], index: usize) -> Result<u64, MaintainError> {
    let text = cell(row, index)?;
    text.parse()
        .map_err(|_| MaintainError::Unexpected(format!("column {index}: {text:?} is not a count")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_monthly_partition_names_are_months() {
        let june = Partition::parse("quotes_2024_06").expect("a month");
        assert_eq!(june.month(), "2024-06");
        assert_eq!(june.end, NaiveDate::from_ymd_opt(2024, 7, 1).unwrap());
        let december = Partition::parse("quotes_2024_12").expect("a month");
        assert_eq!(december.end, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        for other in [
            "quotes_2024_13",
            "quotes_24_06",
            "quotes_2024_6",
            "quotes_x",
            "quotes_2024_06\"",
            "other_2024_06",
        ] {
            assert!(Partition::parse(other).is_none(), "{other}");
        }
    }
}
