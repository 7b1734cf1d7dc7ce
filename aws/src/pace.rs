//! Pacing emails to SES's sending rate. SES refuses what comes faster than the account's
//! maximum send rate (14/s for a new production account); a refusal holds the message
//! and tries again later, which works but wastes calls and delays. So each dispatch
//! instance sends at its share of the rate — the account's rate (SES v2 `GetAccount`,
//! read at the first email) divided by how many dispatch instances may run at once (the
//! template caps the event source's concurrency) — from a token bucket. A send waits its
//! turn for up to [`MAX_WAIT`] before its key is claimed (a timeout while waiting loses
//! nothing) and the queue keeps the rest; a send whose turn is further off has that turn
//! reserved and is held until then (journaled `message_delayed`, reason `sending_rate`,
//! once), with no provider retry spent — held sends are spread one turn apart, not all
//! woken together.

use std::time::{Duration, Instant};

/// The longest a send waits for its turn inside one invocation (records of a batch are
/// sent one after another: ten such waits stay well inside the function's timeout).
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// A token bucket: `per_second` tokens a second, at most `per_second` (at least one)
/// saved up. A taker reserves the next token, possibly one not there yet, and waits
/// until it is (or is held until then): takers are served in turn.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: std::sync::Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket. `per_second` must be positive and finite.
    pub fn new(per_second: f64, now: Instant) -> Option<TokenBucket> {
        (per_second.is_finite() && per_second > 0.0).then(|| {
            let burst = per_second.max(1.0);
            TokenBucket {
                per_second,
                burst,
                state: std::sync::Mutex::new((burst, now)),
            }
        })
    }

    /// Reserves a token at `now`: `Ok(how long until it is there)` (zero: at once), or
    /// `Err(how long)` when that is further off than `max_wait` — reserved all the same,
    /// for a send held until then.
    pub fn reserve(&self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = *state;
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        let tokens = (tokens + elapsed * self.per_second).min(self.burst) - 1.0;
        *state = (tokens, now.max(at));
        let wait = Duration::from_secs_f64((-tokens).max(0.0) / self.per_second);
        if wait > max_wait {
            Err(wait)
        } else {
            Ok(wait)
        }
    }
}

/// Where the sending rate comes from, and the bucket once known.
#[derive(Debug)]
pub struct Pacing {
    /// A rate set by configuration (`KAIROS_SES_MAX_SEND_RATE`), else the account's.
    configured: Option<f64>,
    /// How many instances share the rate (`KAIROS_DISPATCH_CONCURRENCY`).
    instances: u32,
    bucket: tokio::sync::OnceCell<Option<TokenBucket>>,
}

impl Pacing {
    /// The account's rate, for one instance (`kairos serve --aws-endpoint`, the tests).
    pub fn account() -> Pacing {
        Pacing {
            configured: None,
            instances: 1,
            bucket: Default::default(),
        }
    }

    /// A fixed rate for this instance.
    pub fn fixed(per_second: f64) -> Pacing {
        Pacing {
            configured: Some(per_second),
            ..Pacing::account()
        }
    }

    /// A Lambda function's: `KAIROS_SES_MAX_SEND_RATE` (a positive number, else the
    /// account's rate) shared by `KAIROS_DISPATCH_CONCURRENCY` instances (default 1).
    pub fn from_env() -> Pacing {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        Pacing {
            configured: number("KAIROS_SES_MAX_SEND_RATE").filter(|r| *r > 0.0),
            instances: number("KAIROS_DISPATCH_CONCURRENCY")
                .filter(|n| *n >= 1.0)
                .map_or(1, |n| n as u32),
            bucket: Default::default(),
        }
    }

    /// Takes this send's turn: waits for it when it comes within [`MAX_WAIT`] (`None`: go
    /// now), else when it is, reserved. Unpaced when no rate is known (SES's `GetAccount`
    /// failed: its own throttling still holds messages).
    pub async fn turn(&self, ses: &aws_sdk_sesv2::Client) -> Option<chrono::DateTime<chrono::Utc>> {
        let bucket = self
            .bucket
            .get_or_init(|| async {
                let rate = match self.configured {
                    Some(rate) => Some(rate),
                    None => account_rate(ses).await,
                };
                rate.and_then(|r| TokenBucket::new(r / f64::from(self.instances), Instant::now()))
            })
            .await
            .as_ref()?;
        match bucket.reserve(Instant::now(), MAX_WAIT) {
            Ok(wait) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                None
            }
            Err(off) => Some(chrono::Utc::now() + chrono::Duration::from_std(off).ok()?),
        }
    }
}

/// The account's maximum send rate, or `None` (logged) when SES does not say.
async fn account_rate(ses: &aws_sdk_sesv2::Client) -> Option<f64> {
    // One try: a missing permission or an emulator without the call should not hold up
    // the first send with retries.
    let answer = ses
        .get_account()
        .customize()
        .config_override(
            aws_sdk_sesv2::config::Config::builder()
                .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()),
        )
        .send()
        .await;
    match answer {
        Ok(account) => account.send_quota.map(|q| q.max_send_rate),
        Err(e) => {
            tracing::warn!(error = ?e, "SES GetAccount failed: emails are not paced");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_serves_its_burst_then_one_turn_per_token() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(4.0, t0).unwrap();
        for _ in 0..4 {
            assert_eq!(bucket.reserve(t0, MAX_WAIT), Ok(Duration::ZERO));
        }
        // The fifth waits a quarter second, the sixth half a second: turns, in order.
        assert_eq!(bucket.reserve(t0, MAX_WAIT), Ok(Duration::from_millis(250)));
        assert_eq!(bucket.reserve(t0, MAX_WAIT), Ok(Duration::from_millis(500)));
        // A turn further off than the longest wait is reported as such, and reserved: the
        // next taker's turn comes after it.
        assert_eq!(
            bucket.reserve(t0, Duration::from_millis(600)),
            Err(Duration::from_millis(750))
        );
        assert_eq!(bucket.reserve(t0, MAX_WAIT), Ok(Duration::from_secs(1)));
        // A second later four tokens came back: four turns were owed, the next waits.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(bucket.reserve(t1, MAX_WAIT), Ok(Duration::from_millis(250)));
        assert_eq!(bucket.reserve(t1, MAX_WAIT), Ok(Duration::from_millis(500)));
        // Idle for long, it saves up its burst and no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..4 {
            assert_eq!(bucket.reserve(t2, MAX_WAIT), Ok(Duration::ZERO));
        }
        assert_eq!(bucket.reserve(t2, MAX_WAIT), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn a_slow_rate_still_lets_one_through_and_bad_rates_are_no_bucket() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(0.4, t0).unwrap();
        assert_eq!(bucket.reserve(t0, MAX_WAIT), Ok(Duration::ZERO));
        assert_eq!(
            bucket.reserve(t0, MAX_WAIT),
            Err(Duration::from_millis(2500)),
            "the next turn, reserved"
        );
        assert_eq!(
            bucket.reserve(t0, MAX_WAIT),
            Err(Duration::from_millis(5000)),
            "held sends one turn apart"
        );
        assert!(TokenBucket::new(0.0, t0).is_none());
        assert!(TokenBucket::new(f64::NAN, t0).is_none());
        assert!(TokenBucket::new(-3.0, t0).is_none());
    }
}
