//! What the load function runs for alerts: the scheduled stale check followed by delivery,
//! and delivery alone after a load. Without a topic, events are recorded and left unsent.

use super::deliver::{DeliveryError, DeliverySummary, Outbox};
use super::publish::Publisher;
use super::stale::{check_stale, StaleCheck, StaleCheckError};
use crate::db::{Database, DbError, Session};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Stale(#[from] StaleCheckError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("alerts failed applying migrations: {0}")]
    Migrate(DbError),
}

/// What a delivery did, or why none was attempted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Delivery {
    Published(DeliverySummary),
    /// No topic is configured (`ALERT_TOPIC_ARN` unset): the events wait in the outbox.
    NoTopic {
        topic: &'static str,
        unsent: u64,
    },
}

/// The scheduled alerts event's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduledAlerts {
    pub stale: StaleCheck,
    pub delivery: Delivery,
}

pub struct Alerting<P> {
    database: Database,
    outbox: Outbox,
    publisher: Option<P>,
    migrate: bool,
    migrated: tokio::sync::OnceCell<()>,
}

impl<P: Publisher> Alerting<P> {
    /// `publisher`: `None` when no topic is configured.
    pub fn new(database: Database, publisher: Option<P>) -> Alerting<P> {
        Alerting {
            outbox: Outbox::new(database.clone()),
            database,
            publisher,
            migrate: false,
            migrated: tokio::sync::OnceCell::new(),
        }
    }

    /// Applies pending migrations before the first stale check (PostgreSQL only): the
    /// schedule's event may be a cold start's first invocation.
    pub fn migrating(mut self, migrate: bool) -> Alerting<P> {
        self.migrate = migrate;
        self
    }

    pub fn has_topic(&self) -> bool {
        self.publisher.is_some()
    }

    /// The stale check at `at`, then delivery of every unsent event before `deadline`.
    pub async fn scheduled(
        &self,
        at: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<ScheduledAlerts, AlertsError> {
        self.migrated().await?;
        let stale = check_stale(&self.database, at).await?;
        let delivery = self.deliver(deadline).await?;
        Ok(ScheduledAlerts { stale, delivery })
    }

    /// Delivers unsent events before `deadline`, or counts them when there is no topic.
    pub async fn deliver(&self, deadline: Instant) -> Result<Delivery, AlertsError> {
        match &self.publisher {
            Some(publisher) => Ok(Delivery::Published(
                self.outbox.deliver(publisher, deadline).await?,
            )),
            None => Ok(Delivery::NoTopic {
                topic: "ALERT_TOPIC_ARN is not set: events are recorded, not delivered",
                unsent: self.outbox.unsent().await?,
            }),
        }
    }

    async fn migrated(&self) -> Result<(), AlertsError> {
        if !self.migrate {
            return Ok(());
        }
        self.migrated
            .get_or_try_init(|| async {
                let mut session = Session::open(&self.database)
                    .await
                    .map_err(AlertsError::Migrate)?;
                if let Session::Postgres(client) = &mut session {
                    crate::db::migrate(client).await.map_err(|e| {
                        AlertsError::Migrate(DbError::new(format!("PostgreSQL: {e}"), e))
                    })?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }
}
