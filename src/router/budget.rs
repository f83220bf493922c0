//! Spending limits per deployment: LiteLLM's `max_budget` (USD) over `budget_duration`.
//!
//! LiteLLM keeps a deployment's spend in a cache key that expires `budget_duration` after
//! its first call, and forgets it on restart. Here the window rolls: what counts is the
//! priced calls of the last `budget_duration`, kept as [`SLOTS`] sums (one per
//! `budget_duration / SLOTS`), seeded at start from the request log, so a restart or a
//! reload does not reset a budget. A slot's calls leave the window together when it ages
//! out, so the window is exact to one slot width.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::BudgetLimit;

/// Slots per window: a one-day budget counts in half hours.
pub const SLOTS: usize = 48;

/// One deployment's spend in its rolling window.
#[derive(Debug)]
pub struct Spend {
    limit: BudgetLimit,
    width_ms: i64,
    slots: Mutex<[Slot; SLOTS]>,
}

/// The calls of one slot: which slot of time (`ts_ms / width_ms`) and what they cost.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    index: i64,
    usd: f64,
}

/// A deployment at or over its budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Over {
    pub spent: f64,
    pub limit: BudgetLimit,
    /// Until enough of the window's spend has aged out to be under the budget again
    /// (the whole window when the budget is 0 or a single slot holds more than it).
    pub retry_after: Duration,
}

impl Spend {
    pub fn new(limit: BudgetLimit) -> Spend {
        let period_ms = i64::try_from(limit.period.as_millis()).unwrap_or(i64::MAX);
        let width_ms = (period_ms / SLOTS as i64).max(1);
        Spend { limit, width_ms, slots: Mutex::new([Slot { index: i64::MIN, usd: 0.0 }; SLOTS]) }
    }

    pub fn limit(&self) -> BudgetLimit {
        self.limit
    }

    /// The slot width: the window's resolution, and the bucket size the request log is
    /// summed in when seeding.
    pub fn slot_ms(&self) -> i64 {
        self.width_ms
    }

    /// Where the window reaches back to at `now_ms` (the first slot still counted).
    pub fn window_start_ms(&self, now_ms: i64) -> i64 {
        (self.slot_of(now_ms) - SLOTS as i64 + 1).saturating_mul(self.width_ms)
    }

    fn slot_of(&self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.width_ms)
    }

    /// Count `usd` spent at `ts_ms`. Calls older than the window are ignored; a
    /// non-finite or negative amount is ignored.
    pub fn add(&self, ts_ms: i64, usd: f64, now_ms: i64) {
        if !usd.is_finite() || usd <= 0.0 {
            return;
        }
        let index = self.slot_of(ts_ms);
        if index <= self.slot_of(now_ms) - SLOTS as i64 {
            return;
        }
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut slots[index.rem_euclid(SLOTS as i64) as usize];
        if slot.index != index {
            // The slot held an older window's calls (or a newer one's, when the clock went
            // back): start it afresh.
            if slot.index > index {
                return;
            }
            *slot = Slot { index, usd: 0.0 };
        }
        slot.usd += usd;
    }

    /// Spend in the window ending at `now_ms`.
    pub fn spent(&self, now_ms: i64) -> f64 {
        self.live(now_ms).iter().map(|s| s.usd).sum()
    }

    /// The slots in the window at `now_ms`, oldest first.
    fn live(&self, now_ms: i64) -> Vec<Slot> {
        let now = self.slot_of(now_ms);
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut live: Vec<Slot> = slots
            .iter()
            .copied()
            .filter(|s| s.index > now - SLOTS as i64 && s.index <= now && s.usd > 0.0)
            .collect();
        live.sort_by_key(|s| s.index);
        live
    }

    /// `Ok` while the window's spend is under the budget (LiteLLM's rule: at or over the
    /// budget refuses).
    pub fn check(&self, now_ms: i64) -> Result<(), Over> {
        let live = self.live(now_ms);
        let spent: f64 = live.iter().map(|s| s.usd).sum();
        if spent < self.limit.max_usd {
            return Ok(());
        }
        // Drop the oldest slots until what is left is under the budget: the slot that gets
        // it there ages out at the start of slot `index + SLOTS`.
        let mut left = spent;
        let mut until_ms = None;
        for s in &live {
            left -= s.usd;
            if left < self.limit.max_usd {
                until_ms = Some((s.index + SLOTS as i64).saturating_mul(self.width_ms));
                break;
            }
        }
        let retry_after = match until_ms {
            Some(t) => Duration::from_millis(u64::try_from(t - now_ms).unwrap_or(0).max(1)),
            None => self.limit.period,
        };
        Err(Over { spent, limit: self.limit, retry_after })
    }
}

/// An amount in USD for messages: cents from a dollar up, else two significant digits
/// (`5.01`, `0.0021`, `0.000004`).
pub fn usd(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        return "0".to_owned();
    }
    if x >= 1.0 {
        return format!("{x:.2}");
    }
    let digits = (-x.log10()).floor() as usize + 2;
    let text = format!("{x:.digits$}", digits = digits.min(12));
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_owned()
}

/// `1d`, `2h 5m`, `45s`: a duration for messages, to the largest two units.
pub fn human(d: Duration) -> String {
    let s = d.as_secs().max(1);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "m"), (secs, "s")]
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    //! The rolling window: adding, ageing out, the time until a deployment is under its
    //! budget again, clocks going back.
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn day_budget(max_usd: f64) -> Spend {
        Spend::new(BudgetLimit { max_usd, period: Duration::from_secs(86_400) })
    }

    #[test]
    fn spend_counts_within_the_window_and_ages_out() {
        let b = day_budget(10.0);
        let t0 = 1_000 * 24 * HOUR;
        b.add(t0, 3.0, t0);
        b.add(t0 + HOUR, 4.0, t0 + HOUR);
        assert!((b.spent(t0 + HOUR) - 7.0).abs() < 1e-9);
        // A day and a slot later the first call is gone, the second not yet.
        assert!((b.spent(t0 + 24 * HOUR + HOUR / 2) - 4.0).abs() < 1e-9);
        assert_eq!(b.spent(t0 + 26 * HOUR), 0.0);
    }

    #[test]
    fn at_the_budget_refuses_with_the_time_until_under_it() {
        let b = day_budget(5.0);
        let t0 = 2_000 * 24 * HOUR;
        b.add(t0, 2.0, t0);
        b.add(t0 + 2 * HOUR, 3.0, t0 + 2 * HOUR);
        let now = t0 + 3 * HOUR;
        let over = b.check(now).expect_err("at the budget");
        assert!((over.spent - 5.0).abs() < 1e-9);
        // Under again once the first call's slot leaves: 24 h after its slot began.
        let first_slot_start = t0.div_euclid(b.slot_ms()) * b.slot_ms();
        let expect = first_slot_start + 24 * HOUR - now;
        assert_eq!(over.retry_after, Duration::from_millis(expect as u64));
        assert!(b.check(first_slot_start + 24 * HOUR).is_ok());
    }

    #[test]
    fn a_zero_budget_always_refuses_for_a_whole_window() {
        let b = day_budget(0.0);
        let over = b.check(5 * HOUR).expect_err("a zero budget");
        assert_eq!(over.spent, 0.0);
        assert_eq!(over.retry_after, Duration::from_secs(86_400));
    }

    #[test]
    fn old_calls_negative_and_nan_amounts_are_ignored() {
        let b = day_budget(1.0);
        let now = 3_000 * 24 * HOUR;
        b.add(now - 25 * HOUR, 5.0, now);
        b.add(now, -1.0, now);
        b.add(now, f64::NAN, now);
        b.add(now, f64::INFINITY, now);
        assert_eq!(b.spent(now), 0.0);
        assert!(b.check(now).is_ok());
    }

    #[test]
    fn a_slot_reused_by_a_later_window_starts_from_zero() {
        let b = day_budget(100.0);
        let t0 = 4_000 * 24 * HOUR;
        b.add(t0, 7.0, t0);
        // Same slot position one window later.
        let t1 = t0 + 24 * HOUR;
        b.add(t1, 1.0, t1);
        assert!((b.spent(t1) - 1.0).abs() < 1e-9);
        // A call stamped in the old window, arriving late, does not overwrite the new slot.
        b.add(t0, 2.0, t1);
        assert!((b.spent(t1) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_window_start_is_slot_aligned_and_one_period_back() {
        let b = day_budget(1.0);
        let now = 5_000 * 24 * HOUR + 7 * HOUR + 12_345;
        let start = b.window_start_ms(now);
        assert_eq!(start % b.slot_ms(), 0);
        assert!(now - start <= 24 * HOUR && now - start > 24 * HOUR - b.slot_ms());
    }

    #[test]
    fn amounts_read_as_cents_or_two_significant_digits() {
        assert_eq!(usd(5.0123), "5.01");
        assert_eq!(usd(120.0), "120.00");
        assert_eq!(usd(0.5), "0.5");
        assert_eq!(usd(0.0021), "0.0021");
        assert_eq!(usd(0.000_004_2), "0.0000042");
        assert_eq!(usd(0.000_001), "0.000001");
        assert_eq!(usd(0.0), "0");
        assert_eq!(usd(f64::NAN), "0");
    }

    #[test]
    fn durations_read_as_two_units() {
        assert_eq!(human(Duration::from_secs(86_400)), "1d");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 12 * 60 + 5)), "3h 12m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(90_061)), "1d 1h");
        assert_eq!(human(Duration::from_millis(10)), "1s");
    }
}
