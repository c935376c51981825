//! The retry policy, as the official Telnyx SDKs apply it: which answers are retried, how
//! long to wait, and the idempotency key that makes a retried POST safe.
//!
//! Retried: connection errors, timeouts, and the statuses 408, 409, 429 and 5xx, unless the
//! response says `x-should-retry: false` (`true` retries any status). The wait before retry
//! `n` (0-based) is `min(initial · 2ⁿ, max)` less up to 25 % of jitter, or what
//! `retry-after-ms` / `retry-after` ask for when that is more than 0 and at most 60 s.

use reqwest::header::HeaderMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default wait before the first retry.
pub const DEFAULT_INITIAL_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Default longest wait between two attempts.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(8);
/// The longest `retry-after` honoured; longer ones fall back to the computed back-off.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Back-off bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: DEFAULT_INITIAL_RETRY_DELAY,
            max: DEFAULT_MAX_RETRY_DELAY,
        }
    }
}

/// Whether a non-2xx response with this status and these headers is worth retrying.
pub(crate) fn should_retry(status: u16, headers: &HeaderMap) -> bool {
    match headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// What the server asked for with `retry-after-ms` (milliseconds) or `retry-after` (seconds,
/// or an HTTP date), measured from `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return seconds(ms / 1000.0);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    parse_http_date(value).map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The wait before retry number `retries_taken` (0 for the first retry). `unit` is a uniform
/// random number in `[0, 1)` for the jitter.
pub(crate) fn delay(
    backoff: Backoff,
    retries_taken: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    if let Some(wait) = retry_after.filter(|w| !w.is_zero() && *w <= MAX_RETRY_AFTER) {
        return wait;
    }
    let exponential = backoff
        .initial
        .saturating_mul(1u32.checked_shl(retries_taken.min(30)).unwrap_or(u32::MAX));
    exponential.min(backoff.max).mul_f64(1.0 - 0.25 * unit)
}

/// 64 random bits from the standard library's per-process random hash keys, a counter and
/// the clock: enough for jitter and idempotency keys, with no extra dependency.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A uniform random number in `[0, 1)`.
pub(crate) fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A fresh idempotency key: `parley-rust-retry-` and 128 random bits in hex.
pub(crate) fn idempotency_key() -> String {
    format!(
        "parley-rust-retry-{:016x}{:016x}",
        random_u64(),
        random_u64()
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP dates are sent in.
fn parse_http_date(text: &str) -> Option<SystemTime> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn retried_statuses_and_the_header_that_overrides_them() {
        let none = HeaderMap::new();
        for status in [408, 409, 429, 500, 502, 503, 599] {
            assert!(should_retry(status, &none), "{status}");
        }
        for status in [400, 401, 403, 404, 405, 413, 422] {
            assert!(!should_retry(status, &none), "{status}");
        }
        assert!(!should_retry(503, &headers(&[("x-should-retry", "false")])));
        assert!(should_retry(400, &headers(&[("x-should-retry", "TRUE")])));
        assert!(should_retry(500, &headers(&[("x-should-retry", "maybe")])));
    }

    #[test]
    fn back_off_doubles_from_half_a_second_to_eight_with_a_quarter_of_jitter() {
        let b = Backoff::default();
        let ms = |n, unit| delay(b, n, None, unit).as_millis();
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 40].map(|n| ms(n, 0.0)),
            [500, 1000, 2000, 4000, 8000, 8000, 8000]
        );
        assert_eq!(ms(0, 0.999_999), 375);
        assert_eq!(ms(4, 0.5), 7000);
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_minute() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let b = Backoff::default();
        let wait = |pairs: &[(&str, &str)]| delay(b, 0, retry_after(&headers(pairs), now), 0.0);
        assert_eq!(wait(&[("retry-after-ms", "20")]), Duration::from_millis(20));
        assert_eq!(
            wait(&[("retry-after-ms", "30"), ("retry-after", "5")]),
            Duration::from_millis(30)
        );
        assert_eq!(wait(&[("retry-after", "2")]), Duration::from_secs(2));
        assert_eq!(wait(&[("retry-after", "1.5")]), Duration::from_millis(1500));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777: 3 s after `now`.
        assert_eq!(
            wait(&[("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT")]),
            Duration::from_secs(3)
        );
        // Too long, zero, in the past or unreadable: the computed back-off.
        for pairs in [
            [("retry-after", "61")],
            [("retry-after", "0")],
            [("retry-after", "Sun, 06 Nov 1994 08:49:30 GMT")],
            [("retry-after", "soon")],
            [("retry-after-ms", "-5")],
        ] {
            assert_eq!(wait(&pairs), Duration::from_millis(500), "{pairs:?}");
        }
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_835_481_599))
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 UTC"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn random_numbers_and_keys_differ() {
        let keys: std::collections::HashSet<String> =
            (0..1000).map(|_| idempotency_key()).collect();
        assert_eq!(keys.len(), 1000);
        let key = keys.iter().next().unwrap();
        assert_eq!(key.len(), "parley-rust-retry-".len() + 32);
        let units: Vec<f64> = (0..1000).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
