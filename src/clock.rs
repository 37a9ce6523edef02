//! Injectable time: the `Clock` every timestamp comes from, and the `Timestamp` wire format.
//!
//! Graph's entitlement-management backend is .NET; it writes `DateTimeOffset` values with the
//! `FFFFFFF` pattern, i.e. up to 7 fractional digits with trailing zeros dropped
//! (`2021-11-10T01:10:09.5220119Z` in
//! https://learn.microsoft.com/graph/api/entitlementmanagement-post-accesspackages?view=graph-rest-1.0,
//! `2019-01-27T18:19:50.74Z` in
//! https://learn.microsoft.com/graph/api/entitlementmanagement-list-catalogs?view=graph-rest-1.0).
//! `Timestamp` stores 100 ns ticks and renders exactly that way.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A point in time at .NET tick (100 ns) precision, always UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Truncates to 100 ns, the precision Graph stores.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let dt = dt.to_offset(UtcOffset::UTC);
        let nanos = dt.nanosecond();
        let dt = dt.replace_nanosecond(nanos - nanos % 100).unwrap_or(dt);
        Timestamp(dt)
    }

    /// Parses an RFC 3339 / ISO 8601 date-time with an offset (`Z` or `+hh:mm`).
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from_datetime)
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn unix_micros(self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
    }

    /// Saturates at the calendar's end: durations can come from requests (`P99999999D`), and
    /// adding them must not panic.
    pub fn plus(self, d: Duration) -> Self {
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        Self::from_datetime(
            time::Duration::try_from(d)
                .ok()
                .and_then(|d| self.0.checked_add(d))
                .unwrap_or(max),
        )
    }

    pub fn minus(self, d: Duration) -> Self {
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        Self::from_datetime(
            time::Duration::try_from(d)
                .ok()
                .and_then(|d| self.0.checked_sub(d))
                .unwrap_or(min),
        )
    }

    /// `yyyy-MM-ddTHH:mm:ss`, UTC, no fraction and no `Z`: the `innerError.date` format
    /// (as captured in microsoftgraph/microsoft-graph-docs#18874).
    pub fn inner_error_date(self) -> String {
        let d = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }

    /// The IMF-fixdate of the HTTP `Date` header, taken from the injected clock so responses
    /// stay byte-identical under a fixed clock.
    pub fn http_date(self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let d = self.0;
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[d.weekday().number_days_from_monday() as usize],
            d.day(),
            MONTHS[u8::from(d.month()) as usize - 1],
            d.year(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

impl Timestamp {
    /// Writes `yyyy-MM-ddTHH:mm:ss[.FFFFFFF]Z` into `buf`, returning the used length. Every
    /// listing formats two or three of these per row, so this avoids `core::fmt` machinery.
    fn write_to(self, buf: &mut [u8; 28]) -> usize {
        fn put(buf: &mut [u8], at: usize, value: u32, width: usize) {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let d = self.0;
        // The calendar saturates at year 9999 and RFC 3339 input has four-digit years, so the
        // clamp never changes a value; it only keeps the buffer bounds obvious.
        put(buf, 0, d.year().clamp(0, 9999) as u32, 4);
        buf[4] = b'-';
        put(buf, 5, u32::from(u8::from(d.month())), 2);
        buf[7] = b'-';
        put(buf, 8, u32::from(d.day()), 2);
        buf[10] = b'T';
        put(buf, 11, u32::from(d.hour()), 2);
        buf[13] = b':';
        put(buf, 14, u32::from(d.minute()), 2);
        buf[16] = b':';
        put(buf, 17, u32::from(d.second()), 2);
        let mut len = 19;
        let ticks = d.nanosecond() / 100;
        if ticks != 0 {
            buf[19] = b'.';
            put(buf, 20, ticks, 7);
            len = 27;
            while buf[len - 1] == b'0' {
                len -= 1;
            }
        }
        buf[len] = b'Z';
        len + 1
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 28];
        let len = self.write_to(&mut buf);
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 28];
        let len = self.write_to(&mut buf);
        match std::str::from_utf8(&buf[..len]) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The source of governance time. Implementations must be cheap: every request reads it once.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Moves governance time forward (never backward).
    fn advance(&self, by: Duration);
    /// Sets governance time; refuses to go backward.
    fn set(&self, to: Timestamp) -> Result<(), String>;
}

/// Wall-clock time. Used for token lifetimes (which must not follow the virtual clock) and by
/// `SystemClock`; the only place in the crate that reads the system time.
pub fn wall_clock_now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Wall time plus an offset that tests can advance (`POST /_emulator/clock`).
#[derive(Debug, Default)]
pub struct SystemClock {
    offset: Mutex<Duration>,
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        Timestamp::from_datetime(wall_clock_now()).plus(offset)
    }

    fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset = offset.saturating_add(by);
    }

    fn set(&self, to: Timestamp) -> Result<(), String> {
        let now = self.now();
        if to < now {
            return Err(format!("time never moves backwards: it is already {now}"));
        }
        self.advance((to.datetime() - now.datetime()).unsigned_abs());
        Ok(())
    }
}

/// A clock that only moves when told to (and optionally by a fixed step per read, so that
/// entities created one after another still get distinct, ordered timestamps).
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<OffsetDateTime>,
    step: Duration,
}

impl ManualClock {
    pub fn new(start: Timestamp, step: Duration) -> Self {
        ManualClock {
            state: Mutex::new(start.0),
            step,
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *now = Timestamp(*now).plus(by).0;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let mut now = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let current = *now;
        *now = Timestamp(*now).plus(self.step).0;
        Timestamp::from_datetime(current)
    }

    fn advance(&self, by: Duration) {
        ManualClock::advance(self, by);
    }

    fn set(&self, to: Timestamp) -> Result<(), String> {
        let mut now = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if to.datetime() < *now {
            return Err(format!(
                "time never moves backwards: it is already {}",
                Timestamp::from_datetime(*now)
            ));
        }
        *now = to.datetime();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let far = t.plus(Duration::from_secs(u64::MAX));
        assert!(far > t);
        assert!(t.minus(Duration::from_secs(u64::MAX)) < t);
        let clock = ManualClock::new(far, Duration::from_secs(1));
        clock.advance(Duration::from_secs(u64::MAX));
        assert_eq!(
            clock.now(),
            far,
            "the end of the calendar is as far as it goes"
        );
        let system = SystemClock::default();
        system.advance(Duration::from_secs(u64::MAX));
        system.advance(Duration::from_secs(u64::MAX));
        assert!(system.now() > t);
    }

    #[test]
    fn renders_like_dotnet_fffffff() {
        let cases = [
            (
                "2021-11-10T01:10:09.5220119Z",
                "2021-11-10T01:10:09.5220119Z",
            ),
            ("2019-01-27T18:19:50.74Z", "2019-01-27T18:19:50.74Z"),
            ("2019-01-27T18:19:50.740000000Z", "2019-01-27T18:19:50.74Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            (
                "2026-01-01T02:00:00.123456789+02:00",
                "2026-01-01T00:00:00.1234567Z",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Timestamp::parse(input).unwrap().to_string(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn serialized_form_matches_display_at_the_calendar_edges() {
        for input in [
            "0001-01-01T00:00:00Z",
            "2026-03-01T09:00:00.0000001Z",
            "2026-12-31T23:59:59.9999999Z",
        ] {
            let t = Timestamp::parse(input).unwrap();
            assert_eq!(t.to_string(), input);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{input}\""));
        }
        let end = Timestamp::parse("2026-01-01T00:00:00Z")
            .unwrap()
            .plus(Duration::from_secs(u64::MAX));
        assert!(end.to_string().starts_with("9999-12-31T23:59:59"));
    }

    #[test]
    fn inner_error_and_http_dates() {
        let t = Timestamp::parse("2022-10-06T15:18:34.5Z").unwrap();
        assert_eq!(t.inner_error_date(), "2022-10-06T15:18:34");
        assert_eq!(t.http_date(), "Thu, 06 Oct 2022 15:18:34 GMT");
    }

    #[test]
    fn manual_clock_steps_per_read_and_advances() {
        let clock = ManualClock::new(
            Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            Duration::from_millis(1),
        );
        assert_eq!(clock.now().to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(clock.now().to_string(), "2026-01-01T00:00:00.001Z");
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now().to_string(), "2026-01-01T00:01:00.002Z");
    }
}
