//! VNPay timestamps: `yyyyMMddHHmmss` in GMT+7 (Asia/Ho_Chi_Minh, no DST), whatever the host's zone.
//!
//! Every value is built from an instant the caller passes in; nothing here reads a clock.

use std::fmt;
use std::str::FromStr;

use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Vietnam's fixed offset. Not `Etc/GMT+7`, which is UTC−7 (spec §2.2).
pub const GMT7: UtcOffset = offset!(+7);

const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");

/// A `vnp_*Date` value: an instant shown in GMT+7 with one-second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VnpDateTime(OffsetDateTime);

/// A timestamp that is not 14 digits forming a valid GMT+7 date and time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a yyyyMMddHHmmss GMT+7 timestamp")]
pub struct InvalidVnpDateTime(pub String);

impl VnpDateTime {
    /// The given instant, truncated to the second and shown in GMT+7.
    pub fn from_instant(instant: OffsetDateTime) -> Self {
        let at = instant.to_offset(GMT7);
        Self(at.replace_nanosecond(0).unwrap_or(at))
    }

    /// Parses `yyyyMMddHHmmss` read as GMT+7.
    pub fn parse(s: &str) -> Result<Self, InvalidVnpDateTime> {
        let invalid = || InvalidVnpDateTime(s.to_owned());
        if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        PrimitiveDateTime::parse(s, FORMAT)
            .map(|local| Self(local.assume_offset(GMT7)))
            .map_err(|_| invalid())
    }

    /// The instant, with its offset set to GMT+7.
    pub fn instant(self) -> OffsetDateTime {
        self.0
    }

    /// The calendar day in Vietnam, which bounds TxnRef and RequestId uniqueness.
    pub fn date(self) -> Date {
        self.0.date()
    }

    /// This instant moved by `by` (e.g. CreateDate + 15 min for ExpireDate).
    pub fn plus(self, by: Duration) -> Self {
        Self::from_instant(self.0.saturating_add(by))
    }

    /// The `yyyyMMddHHmmss` wire form.
    pub fn format(self) -> String {
        let d = self.0;
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

impl fmt::Display for VnpDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

impl FromStr for VnpDateTime {
    type Err = InvalidVnpDateTime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<OffsetDateTime> for VnpDateTime {
    fn from(instant: OffsetDateTime) -> Self {
        Self::from_instant(instant)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn midnight_utc_is_seven_in_the_morning_in_vietnam() {
        let at = VnpDateTime::from_instant(datetime!(2021-01-01 00:00:00 UTC));
        assert_eq!(at.format(), "20210101070000");
    }

    #[test]
    fn the_offset_of_the_input_instant_does_not_change_the_output() {
        let utc = VnpDateTime::from_instant(datetime!(2024-05-21 02:18:06.999 UTC));
        let ny = VnpDateTime::from_instant(datetime!(2024-05-20 22:18:06.5 -4));
        assert_eq!(utc.format(), "20240521091806");
        assert_eq!(ny.format(), "20240521091806");
    }

    #[test]
    fn parsing_reads_the_digits_as_gmt7() {
        let at = VnpDateTime::parse("20261005093000").map(VnpDateTime::instant);
        assert_eq!(at, Ok(datetime!(2026-10-05 02:30:00 UTC)));
    }

    #[test]
    fn parsing_rejects_wrong_length_non_digits_and_impossible_dates() {
        for bad in [
            "2026100509300",
            "2026100509300a",
            "20261305093000",
            "20260230093000",
            "",
        ] {
            assert!(VnpDateTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let at = VnpDateTime::parse("20991231235959");
        assert_eq!(at.map(VnpDateTime::format).as_deref(), Ok("20991231235959"));
    }
}
