//! Local rate limits per deployment: `rpm` as a token bucket, `tpm` as a one-minute window
//! of the tokens upstream responses reported.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

/// `rpm`: up to `rpm` requests at once, refilled continuously at `rpm` per minute.
#[derive(Debug)]
pub struct RequestLimiter {
    rpm: u32,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RequestLimiter {
    pub fn new(rpm: u32) -> Self {
        RequestLimiter {
            rpm,
            state: Mutex::new(Bucket { tokens: f64::from(rpm), at: Instant::now() }),
        }
    }

    /// Take one request slot, or say how long until one frees up.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let rate = f64::from(self.rpm) / MINUTE.as_secs_f64();
        if rate <= 0.0 {
            return Err(MINUTE);
        }
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(f64::from(self.rpm));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

/// `tpm`: tokens reported by responses in the current minute window.
#[derive(Debug)]
pub struct TokenLimiter {
    tpm: u64,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u64,
}

impl TokenLimiter {
    pub fn new(tpm: u64) -> Self {
        TokenLimiter { tpm, state: Mutex::new(Window { start: Instant::now(), used: 0 }) }
    }

    fn roll(w: &mut Window) {
        let now = Instant::now();
        if now.duration_since(w.start) >= MINUTE {
            w.start = now;
            w.used = 0;
        }
    }

    /// Whether a new request may start, or how long until the window resets.
    pub fn check(&self) -> Result<(), Duration> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Self::roll(&mut w);
        if w.used < self.tpm {
            Ok(())
        } else {
            Err(MINUTE.saturating_sub(Instant::now().duration_since(w.start)))
        }
    }

    pub fn record(&self, tokens: u64) {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Self::roll(&mut w);
        w.used = w.used.saturating_add(tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rpm_allows_a_burst_then_refills() {
        let l = RequestLimiter::new(2);
        assert!(l.try_acquire().is_ok());
        assert!(l.try_acquire().is_ok());
        let wait = l.try_acquire().expect_err("exhausted");
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30), "{wait:?}");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(l.try_acquire().is_ok());
        assert!(l.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_blocks_until_the_window_resets() {
        let l = TokenLimiter::new(100);
        assert!(l.check().is_ok());
        l.record(60);
        assert!(l.check().is_ok());
        l.record(60);
        tokio::time::advance(Duration::from_secs(20)).await;
        let wait = l.check().expect_err("over budget");
        assert_eq!(wait, Duration::from_secs(40));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert!(l.check().is_ok());
    }
}
