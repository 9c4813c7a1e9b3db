//! Products on sale: their price, stock counters, per-customer limit and sale window.

use crate::ids::{ParseError, ProductId, Sku};
use crate::money::Vnd;
use serde::Serialize;
use time::OffsetDateTime;

/// When a product may be bought; an open end means "no limit on that side".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleWindow {
    pub starts_at: Option<OffsetDateTime>,
    pub ends_at: Option<OffsetDateTime>,
}

impl SaleWindow {
    pub fn new(
        starts_at: Option<OffsetDateTime>,
        ends_at: Option<OffsetDateTime>,
    ) -> Result<Self, ParseError> {
        if let (Some(start), Some(end)) = (starts_at, ends_at)
            && end <= start
        {
            return Err(ParseError::new(
                "sale_ends_at",
                "must be after sale_starts_at",
            ));
        }
        Ok(Self { starts_at, ends_at })
    }

    /// Open from `starts_at` (inclusive) until `ends_at` (exclusive).
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.starts_at.is_none_or(|start| start <= now) && self.ends_at.is_none_or(|end| now < end)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub price: Vnd,
    pub stock: Stock,
    pub per_customer_limit: Option<i64>,
    pub window: SaleWindow,
}

/// The stock counters; the database holds `total = available + reserved + sold` with every term `>= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stock {
    pub total: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

/// A product as an admin creates it, already parsed.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub price: Vnd,
    pub stock: i64,
    pub per_customer_limit: Option<i64>,
    pub window: SaleWindow,
}

/// A partial update; `None` leaves a field as it is. Limits and window ends can be cleared with
/// `Some(None)`.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub price: Option<Vnd>,
    pub per_customer_limit: Option<Option<i64>>,
    pub sale_starts_at: Option<Option<OffsetDateTime>>,
    pub sale_ends_at: Option<Option<OffsetDateTime>>,
}

pub fn parse_name(raw: &str) -> Result<String, ParseError> {
    parse_line(raw, "name", 200)
}

/// A line of text kept as written and shown back (a product's name, an operator's reason): 1 to
/// `max_chars` characters counted as sent, spaces and all (the bound a client can check before
/// sending), not blank, and no control character anywhere (a line of text has none, and PostgreSQL
/// cannot even store a NUL). Returned without its surrounding white space. The rules are the
/// schema's, checked on the text as sent: a trim first would pass `"Phone\n"` (Rust's white space
/// includes `\t`, `\n`, U+0085), and JSON Schema's `\s` counts U+FEFF as blank.
pub fn parse_line(raw: &str, field: &'static str, max_chars: usize) -> Result<String, ParseError> {
    let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    if line.is_empty() || raw.chars().count() > max_chars {
        return Err(ParseError::new(
            field,
            format!("must be 1 to {max_chars} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ParseError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(line.to_owned())
}

pub fn parse_stock(value: i64, field: &'static str) -> Result<i64, ParseError> {
    if !(0..=1_000_000_000).contains(&value) {
        return Err(ParseError::new(field, "must be between 0 and 1000000000"));
    }
    Ok(value)
}

pub fn parse_limit(value: i64) -> Result<i64, ParseError> {
    if !(1..=1_000_000).contains(&value) {
        return Err(ParseError::new(
            "per_customer_limit",
            "must be between 1 and 1000000",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        for raw in ["nul\u{0}", "bell\u{7}", "line\nbreak", "esc\u{1b}[31m"] {
            assert!(parse_name(raw).is_err(), "{raw:?}");
        }
        // At either end too: white space to Rust, control characters to the schema.
        for raw in ["Phone\n", "\tPhone", "Phone\u{85}", "\r\nPhone\r\n"] {
            assert!(parse_name(raw).is_err(), "{raw:?}");
        }
        assert_eq!(parse_name("  Điện thoại  ").unwrap(), "Điện thoại");
        assert_eq!(parse_name("\u{feff}Phone\u{a0}").unwrap(), "Phone");
    }

    #[test]
    fn a_name_of_white_space_alone_is_refused() {
        for raw in ["", "   ", "\u{feff}", " \u{3000}\u{feff} "] {
            assert!(parse_name(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_window_is_open_from_its_start_until_just_before_its_end() {
        let start = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        let end = start + Duration::hours(1);
        let window = SaleWindow::new(Some(start), Some(end)).unwrap();
        assert!(!window.is_open(start - Duration::seconds(1)));
        assert!(window.is_open(start));
        assert!(window.is_open(end - Duration::seconds(1)));
        assert!(!window.is_open(end));
    }

    #[test]
    fn a_window_must_end_after_it_starts() {
        let start = OffsetDateTime::UNIX_EPOCH;
        assert!(SaleWindow::new(Some(start), Some(start)).is_err());
    }

    #[test]
    fn an_unbounded_window_is_always_open() {
        assert!(SaleWindow::default().is_open(OffsetDateTime::UNIX_EPOCH));
    }
}
