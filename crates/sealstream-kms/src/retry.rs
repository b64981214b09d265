//! The one retry policy of the workspace: bounded attempts, exponential
//! backoff with "equal jitter". KMS calls, S3 body re-fetches, presigned
//! part uploads and multipart aborts all retry by a [`RetryPolicy`], and
//! the CLI sets the AWS SDK's own retries from the same values
//! ([`RetryPolicy::sdk_retry_config`]).

use std::future::Future;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// How an operation is retried: exponential backoff with jitter, bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per operation, the first one included (at least 1).
    pub max_attempts: u32,
    /// The backoff cap before the second attempt; it doubles for every
    /// further attempt.
    pub initial_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// How long one attempt may take before it counts as unreachable
    /// (used by the KMS provider).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff from 100 ms up to 5 s, 20 s per attempt.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

/// The last error of a retried operation that did not succeed.
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The error of the last attempt.
    pub error: E,
    /// Attempts made, the first one included.
    pub attempts: u32,
    /// Whether the classifier called the last error transient (so the
    /// attempts ran out rather than the error being final).
    pub transient: bool,
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The sleep after failed attempt `attempt` (1-based): "equal jitter",
    /// uniformly random in `[cap/2, cap]` where
    /// `cap = min(max_backoff, initial_backoff * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.backoff_cap(attempt);
        let half = cap / 2;
        let spread = u64::try_from((cap - half).as_nanos()).unwrap_or(u64::MAX);
        let mut r = [0u8; 8];
        // A failed RNG only loses the jitter, not correctness.
        let _ = SystemRandom::new().fill(&mut r);
        let jitter = u64::from_le_bytes(r) % spread.saturating_add(1);
        half + Duration::from_nanos(jitter)
    }

    /// The upper bound of [`RetryPolicy::backoff`] after attempt `attempt`.
    pub fn backoff_cap(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, its
    /// error is not `transient`, or [`RetryPolicy::max_attempts`] attempts
    /// (at least 1) were made, sleeping [`RetryPolicy::backoff`] between
    /// attempts.
    pub async fn run<T, E, F, Fut, C>(&self, mut op: F, mut transient: C) -> Result<T, GaveUp<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnMut(&E) -> bool,
    {
        let max = self.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let error = match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let is_transient = transient(&error);
            if !is_transient || attempt >= max {
                return Err(GaveUp {
                    error,
                    attempts: attempt,
                    transient: is_transient,
                });
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    #[cfg(feature = "aws")]
    /// The AWS SDK's own retry settings with the same attempts and backoff
    /// (standard mode).
    pub fn sdk_retry_config(&self) -> aws_smithy_types::retry::RetryConfig {
        aws_smithy_types::retry::RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_is_bounded_grows_and_is_jittered_within_its_cap() {
        let p = policy(10);
        let mut last_cap = Duration::ZERO;
        for attempt in 1..40 {
            let cap = Duration::from_millis(100)
                .saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
                .min(Duration::from_secs(1));
            assert_eq!(p.backoff_cap(attempt), cap);
            assert!(cap >= last_cap, "the cap never shrinks");
            last_cap = cap;
            let d = p.backoff(attempt);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} vs {cap:?}"
            );
        }
        assert_eq!(p.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_secs(1));
        // Jittered: 64 draws in [500 ms, 1 s] are not all the same.
        let draws: std::collections::HashSet<_> = (0..64).map(|_| p.backoff(20)).collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
    }

    #[test]
    fn zero_backoff_is_zero() {
        let p = RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..policy(3)
        };
        assert_eq!(p.backoff(1), Duration::ZERO);
        assert_eq!(p.backoff(9), Duration::ZERO);
    }

    /// Runs an operation that always fails with `error` under `p`; returns
    /// what `run` gave up with and how often the operation was called.
    async fn always_failing(
        p: &RetryPolicy,
        error: &'static str,
        transient: fn(&&'static str) -> bool,
    ) -> (GaveUp<&'static str>, u32) {
        let mut calls = 0;
        let r: Result<(), _> = p
            .run(
                |_| {
                    calls += 1;
                    async move { Err(error) }
                },
                transient,
            )
            .await;
        (r.unwrap_err(), calls)
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_transient_errors_up_to_the_limit() {
        let (g, calls) = always_failing(&policy(4), "busy", |_| true).await;
        assert_eq!(
            (g.attempts, g.transient, g.error, calls),
            (4, true, "busy", 4)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_a_final_error_and_returns_success() {
        let (g, calls) = always_failing(&policy(4), "denied", |e| *e != "denied").await;
        assert_eq!((g.attempts, g.transient, calls), (1, false, 1));
        let ok = policy(4)
            .run(
                |n| async move { if n < 3 { Err("busy") } else { Ok(n) } },
                |_| true,
            )
            .await
            .unwrap();
        assert_eq!(ok, 3);
        let once = RetryPolicy {
            max_attempts: 0,
            ..policy(0)
        }
        .run(|n| async move { Err::<(), _>(n) }, |_| true)
        .await
        .unwrap_err();
        assert_eq!(once.attempts, 1, "max_attempts 0 still makes one attempt");
    }
}
