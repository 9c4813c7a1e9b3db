//! Times a client sends (RFC 3339), read as the service keeps them: in UTC, to the microsecond, and
//! between the years 1 and 9999 in UTC. PostgreSQL keeps microseconds, so two times that differ by
//! less are compared here as they will be stored (a sale window whose ends differ by a nanosecond
//! is empty, not a constraint the database trips over); and a time past 9999 in UTC (9999-12-31
//! with a negative offset) cannot be written by the database driver at all.

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

const RANGE: &str = "a time from the year 1 to 9999 in UTC";

/// What the document says of every time a request carries: `format: date-time` states the rest, but
/// not the years this service can keep.
pub const BOUND: &str = "From the year 1 to 9999 in UTC.";

/// `text` as RFC 3339 writes a time. The `time` crate takes any character between the date and the
/// time (the RFC's prose lets an application choose a space), but its grammar, which `format:
/// date-time` names, has a `T` there.
fn read(text: &str) -> Result<OffsetDateTime, String> {
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return Err("not an RFC 3339 time: `T` goes between the date and the time".to_owned());
    }
    let t =
        OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("not an RFC 3339 time: {e}"))?;
    kept(t).map_err(str::to_owned)
}

/// `t` as it is kept, or why it cannot be.
fn kept(t: OffsetDateTime) -> Result<OffsetDateTime, &'static str> {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|t| t.year() >= 1)
        .ok_or(RANGE)?;
    utc.replace_nanosecond(utc.nanosecond() / 1_000 * 1_000)
        .map_err(|_| RANGE)
}

/// `#[serde(with = "times")]`
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    read(&String::deserialize(d)?).map_err(D::Error::custom)
}

pub mod option {
    use super::*;

    /// `#[serde(default, with = "times::option")]`
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| read(&text))
            .transpose()
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_time_is_kept_in_utc_to_the_microsecond() {
        assert_eq!(
            kept(datetime!(2026-12-05 10:00:00.123456789 +07:00)),
            Ok(datetime!(2026-12-05 03:00:00.123456 UTC))
        );
    }

    #[test]
    fn only_a_t_separates_the_date_from_the_time() {
        let at = Ok(datetime!(2026-12-05 10:00:00 UTC));
        assert_eq!(read("2026-12-05T10:00:00Z"), at);
        assert_eq!(read("2026-12-05t10:00:00z"), at);
        for other in [
            "2026-12-05 10:00:00Z",
            "2026-12-05_10:00:00Z",
            "2026-12-05x10:00:00Z",
        ] {
            assert!(read(other).is_err(), "{other}");
        }
    }

    #[test]
    fn a_time_outside_the_years_1_to_9999_in_utc_is_refused() {
        assert_eq!(kept(datetime!(9999-12-31 23:59:59 -00:01)), Err(RANGE));
        assert_eq!(kept(datetime!(0001-01-01 00:00:00 +00:01)), Err(RANGE));
        assert!(kept(datetime!(9999-12-31 23:59:59 UTC)).is_ok());
        assert!(kept(datetime!(0001-01-01 00:00:00 UTC)).is_ok());
    }
}
