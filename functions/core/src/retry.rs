//! One HTTP call retried with bounded, jittered exponential backoff on transient errors,
//! waiting what a server's `Retry-After` asks for, and never past the invocation's
//! deadline. The CoinMarketCap client, the Binance API client and the Binance archive
//! client share it; each error type says what is transient and what the server asked for.

use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A request shorter than this cannot complete against a real server; starting one would
/// only turn a clear "out of time" into a confusing timeout.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// Why retrying stopped, as [`RetryError::gave_up`] is told.
pub const OUT_OF_TIME: &str = "the invocation's time budget ran out";
pub const RETRY_LIMIT: &str = "the retry limit was reached";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first backoff; each later one doubles, plus random jitter, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest one attempt may take (further capped by the deadline).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// How long the next attempt may take: `limit` capped by what is left before
    /// `deadline`, or `None` when too little is left for any request to complete.
    pub fn attempt_timeout(limit: Duration, deadline: Instant) -> Option<Duration> {
        let budget = deadline.saturating_duration_since(Instant::now());
        (budget >= MIN_ATTEMPT).then(|| budget.min(limit))
    }
}

/// How a client's error steers the retries.
pub trait RetryError: Sized {
    /// Whether another attempt may succeed.
    fn is_transient(&self) -> bool;

    /// The wait the server asked for before the next attempt (`Retry-After`); it replaces
    /// the backoff, since asking earlier is what turns a rate limit into a ban.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The error for a transient `last` failure after which no attempt was made; `why` is
    /// [`OUT_OF_TIME`] or [`RETRY_LIMIT`].
    fn gave_up(last: Self, attempts: u32, why: &'static str) -> Self;

    /// The error for a transient `last` failure whose `Retry-After` ends after the
    /// deadline, with `left` of the budget remaining. By default the same as running out
    /// of time.
    fn wait_past_deadline(
        last: Self,
        attempts: u32,
        _retry_after: Duration,
        _left: Duration,
    ) -> Self {
        Self::gave_up(last, attempts, OUT_OF_TIME)
    }
}

/// A call that succeeded, and on which attempt.
#[derive(Debug)]
pub struct Succeeded<T> {
    pub value: T,
    pub attempts: u32,
}

/// Runs `attempt` until it succeeds, fails with an error that is not transient, uses up
/// `policy.max_attempts`, or the next wait plus [`MIN_ATTEMPT`] would pass `deadline`.
/// `on_retry` is told of each failure that is retried and the wait before the next try.
/// An error that is not transient is returned as it is; a transient one that is not retried
/// becomes [`RetryError::gave_up`] or [`RetryError::wait_past_deadline`].
pub async fn retry<T, E, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    mut attempt: impl FnMut() -> Fut,
    on_retry: impl FnMut(&E, Duration),
) -> Result<Succeeded<T>, E>
where
    E: RetryError,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = AtomicU32::new(0);
    let out_of_time = AtomicBool::new(false);
    let wait_refused: Mutex<Option<Duration>> = Mutex::new(None);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.base_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter();
    let result = (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt()
    })
    .retry(backoff)
    .when(E::is_transient)
    .adjust(|error, next| {
        let next = next?;
        let wait = error.retry_after().unwrap_or(next);
        if Instant::now() + wait + MIN_ATTEMPT < deadline {
            Some(wait)
        } else {
            if error.retry_after().is_some() {
                if let Ok(mut refused) = wait_refused.lock() {
                    *refused = Some(wait);
                }
            }
            out_of_time.store(true, Ordering::Relaxed);
            None
        }
    })
    .notify(on_retry)
    .await;

    let attempts = attempts.into_inner();
    match result {
        Ok(value) => Ok(Succeeded { value, attempts }),
        Err(last) if last.is_transient() => match wait_refused.into_inner().ok().flatten() {
            Some(retry_after) => Err(E::wait_past_deadline(
                last,
                attempts,
                retry_after,
                deadline.saturating_duration_since(Instant::now()),
            )),
            None => {
                let why = if out_of_time.into_inner() {
                    OUT_OF_TIME
                } else {
                    RETRY_LIMIT
                };
                Err(E::gave_up(last, attempts, why))
            }
        },
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum TestError {
        Busy(Option<Duration>),
        Refused,
        GaveUp(u32, &'static str),
        WaitPastDeadline(u32, Duration),
    }

    impl RetryError for TestError {
        fn is_transient(&self) -> bool {
            matches!(self, TestError::Busy(_))
        }
        fn retry_after(&self) -> Option<Duration> {
            match self {
                TestError::Busy(wait) => *wait,
                _ => None,
            }
        }
        fn gave_up(_: Self, attempts: u32, why: &'static str) -> Self {
            TestError::GaveUp(attempts, why)
        }
        fn wait_past_deadline(_: Self, attempts: u32, retry_after: Duration, _: Duration) -> Self {
            TestError::WaitPastDeadline(attempts, retry_after)
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            request_timeout: Duration::from_secs(1),
        }
    }

    async fn run(
        policy: RetryPolicy,
        deadline: Instant,
        replies: Vec<Result<u8, TestError>>,
    ) -> (Result<Succeeded<u8>, TestError>, usize) {
        let replies = Mutex::new(replies.into_iter());
        let retried = AtomicU32::new(0);
        let result = retry(
            &policy,
            deadline,
            || {
                let next = replies.lock().unwrap().next();
                async move { next.unwrap_or(Err(TestError::Refused)) }
            },
            |_, _| {
                retried.fetch_add(1, Ordering::Relaxed);
            },
        )
        .await;
        (result, retried.into_inner() as usize)
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_success() {
        let (result, retried) = run(
            quick(4),
            far(),
            vec![
                Err(TestError::Busy(None)),
                Err(TestError::Busy(None)),
                Ok(7),
            ],
        )
        .await;
        let done = result.unwrap();
        assert_eq!((done.value, done.attempts, retried), (7, 3, 2));
    }

    #[tokio::test]
    async fn an_error_that_is_not_transient_is_returned_at_once() {
        let (result, retried) = run(quick(4), far(), vec![Err(TestError::Refused), Ok(7)]).await;
        assert_eq!(result.unwrap_err(), TestError::Refused);
        assert_eq!(retried, 0);
    }

    #[tokio::test]
    async fn the_retry_limit_gives_up_with_the_attempt_count() {
        let busy = || Err(TestError::Busy(None));
        let (result, _) = run(quick(2), far(), vec![busy(), busy(), busy()]).await;
        assert_eq!(result.unwrap_err(), TestError::GaveUp(2, RETRY_LIMIT));
    }

    #[tokio::test]
    async fn a_deadline_too_close_for_the_next_attempt_gives_up_out_of_time() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(5),
            ..quick(4)
        };
        let soon = Instant::now() + Duration::from_secs(2);
        let (result, _) = run(policy, soon, vec![Err(TestError::Busy(None))]).await;
        assert_eq!(result.unwrap_err(), TestError::GaveUp(1, OUT_OF_TIME));
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_is_not_waited_for() {
        let soon = Instant::now() + Duration::from_secs(2);
        let wait = Duration::from_secs(30);
        let (result, retried) = run(quick(4), soon, vec![Err(TestError::Busy(Some(wait)))]).await;
        assert_eq!(result.unwrap_err(), TestError::WaitPastDeadline(1, wait));
        assert_eq!(retried, 0);
    }

    #[test]
    fn no_attempt_starts_with_less_than_the_minimum_left() {
        let limit = Duration::from_secs(10);
        assert_eq!(
            RetryPolicy::attempt_timeout(limit, Instant::now() + Duration::from_millis(100)),
            None
        );
        let timeout = RetryPolicy::attempt_timeout(limit, Instant::now() + Duration::from_secs(3))
            .expect("time for one attempt");
        assert!(timeout <= Duration::from_secs(3), "{timeout:?}");
        assert_eq!(
            RetryPolicy::attempt_timeout(limit, Instant::now() + Duration::from_secs(60)),
            Some(limit)
        );
    }
}
