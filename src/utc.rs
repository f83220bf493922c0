//! Wall-clock times as UTC calendar fields and RFC 3339 text, without a date library: the
//! timestamps of log lines (written for every request, so by hand into a stack buffer) and
//! of health reports.

use std::time::SystemTime;

/// A time's UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// The UTC fields of `secs` seconds after 1970-01-01T00:00:00Z.
pub fn fields(secs: u64) -> Fields {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Hinnant's algorithm, proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Fields {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as u8,
        day: day as u8,
        hour: (rem / 3600) as u8,
        minute: (rem % 3600 / 60) as u8,
        second: (rem % 60) as u8,
    }
}

/// `2026-11-29T16:17:05Z`: to the second (1970-01-01T00:00:00Z for an earlier time).
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let f = fields(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        f.year, f.month, f.day, f.hour, f.minute, f.second
    )
}

/// The last second [`Micros`] writes: 9999-12-31T23:59:59Z.
const LAST_FOUR_DIGIT_YEAR: u64 = 253_402_300_799;

/// `2026-11-29T16:17:05.123456Z` in a stack buffer, the text tracing's default timer writes
/// (`tracing_subscriber::fmt::time::SystemTime`), made without `fmt` machinery.
pub struct Micros([u8; 27]);

impl Micros {
    /// `None` before 1970 or after year 9999 (tracing writes those differently).
    pub fn of(at: SystemTime) -> Option<Micros> {
        let d = at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        if d.as_secs() > LAST_FOUR_DIGIT_YEAR {
            return None;
        }
        let f = fields(d.as_secs());
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        digits(&mut b[0..4], f.year as u32);
        digits(&mut b[5..7], u32::from(f.month));
        digits(&mut b[8..10], u32::from(f.day));
        digits(&mut b[11..13], u32::from(f.hour));
        digits(&mut b[14..16], u32::from(f.minute));
        digits(&mut b[17..19], u32::from(f.second));
        digits(&mut b[20..26], d.subsec_micros());
        Some(Micros(b))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// `n`'s last `out.len()` decimal digits, zero-padded, into `out`.
fn digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into())
    }

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_969_025, 0)), "2026-11-29T16:17:05Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn log_times_carry_microseconds_and_stop_where_tracing_writes_otherwise() {
        let text = |s, us| Micros::of(at(s, us)).map(|m| m.as_str().to_owned());
        assert_eq!(text(0, 0).as_deref(), Some("1970-01-01T00:00:00.000000Z"));
        assert_eq!(text(1_795_969_025, 7_050).as_deref(), Some("2026-11-29T16:17:05.007050Z"));
        assert_eq!(
            text(LAST_FOUR_DIGIT_YEAR, 999_999).as_deref(),
            Some("9999-12-31T23:59:59.999999Z")
        );
        assert_eq!(text(LAST_FOUR_DIGIT_YEAR + 1, 0), None);
        assert!(Micros::of(SystemTime::UNIX_EPOCH - Duration::from_secs(1)).is_none());
    }

    /// The calendar agrees with the C library's `gmtime_r` across the four-digit years.
    #[cfg(unix)]
    mod against_libc {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fields_match_gmtime(secs in 0..=LAST_FOUR_DIGIT_YEAR) {
                let t = secs as libc::time_t;
                // SAFETY: `tm` is plain data that gmtime_r fills; both pointers are valid.
                let tm = unsafe {
                    let mut tm: libc::tm = std::mem::zeroed();
                    assert!(!libc::gmtime_r(&t, &mut tm).is_null());
                    tm
                };
                let f = fields(secs);
                prop_assert_eq!(
                    (f.year, f.month, f.day, f.hour, f.minute, f.second),
                    (
                        i64::from(tm.tm_year) + 1900,
                        (tm.tm_mon + 1) as u8,
                        tm.tm_mday as u8,
                        tm.tm_hour as u8,
                        tm.tm_min as u8,
                        tm.tm_sec as u8
                    )
                );
            }
        }
    }
}
