//! Times a client sends (RFC 3339), read as the service keeps them: in UTC, to the microsecond, and
//! between the years 1 and 9999 in UTC. PostgreSQL keeps microseconds, so two times that differ by
//! less are compared here as they will be stored (a sale window whose ends differ by a nanosecond
//! is empty, not a constraint the database trips over); and a time past 9999 in UTC (9999-12-31
//! with a negative offset) cannot be written by the database driver at all.

use serde::Deserializer;
use serde::de::Error;
use time::{OffsetDateTime, UtcOffset};

const RANGE: &str = "a time from the year 1 to 9999 in UTC";

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
    kept(time::serde::rfc3339::deserialize(d)?).map_err(D::Error::custom)
}

pub mod option {
    use super::*;

    /// `#[serde(default, with = "times::option")]`
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(d)?
            .map(kept)
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
    fn a_time_outside_the_years_1_to_9999_in_utc_is_refused() {
        assert_eq!(kept(datetime!(9999-12-31 23:59:59 -00:01)), Err(RANGE));
        assert_eq!(kept(datetime!(0001-01-01 00:00:00 +00:01)), Err(RANGE));
        assert!(kept(datetime!(9999-12-31 23:59:59 UTC)).is_ok());
        assert!(kept(datetime!(0001-01-01 00:00:00 UTC)).is_ok());
    }
}
