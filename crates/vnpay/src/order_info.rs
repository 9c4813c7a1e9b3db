//! Free text sent to VNPay (`vnp_OrderInfo`), restricted to characters every encoder agrees on.
//!
//! `[A-Za-z0-9 ]` plus `. , : - _ #` (spec §3.3): with these, PHP, Java, JS, .NET and Rust sign the
//! same bytes, so no signature can fail over encoding differences.

use std::fmt;

const MAX_LEN: usize = 255;
const PUNCTUATION: &[u8] = b".,:-_#";

/// Validated description text, 1–255 characters from the safe set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderInfo(String);

/// Why a text is not usable as [`OrderInfo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrderInfo {
    /// Nothing left (or nothing given).
    #[error("order info is empty")]
    Empty,
    /// Longer than 255 characters.
    #[error("order info is {0} characters long, the limit is 255")]
    TooLong(usize),
    /// A character outside `[A-Za-z0-9 ]` and `. , : - _ #`.
    #[error("order info contains {0:?}; only A-Z a-z 0-9 space . , : - _ # are allowed")]
    ForbiddenChar(char),
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || (c.is_ascii() && PUNCTUATION.contains(&(c as u8)))
}

impl OrderInfo {
    /// Accepts the text only if every character is already in the safe set.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidOrderInfo> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(InvalidOrderInfo::Empty);
        }
        if let Some(c) = s.chars().find(|c| !is_allowed(*c)) {
            return Err(InvalidOrderInfo::ForbiddenChar(c));
        }
        if s.len() > MAX_LEN {
            return Err(InvalidOrderInfo::TooLong(s.len()));
        }
        Ok(Self(s))
    }

    /// Makes any text safe: removes Vietnamese (and common Latin) diacritics, drops other
    /// characters, collapses whitespace and truncates to 255. `"Đơn hàng #12 (sale!)"` →
    /// `"Don hang #12 sale"`. Fails only when nothing is left.
    pub fn sanitize(s: &str) -> Result<Self, InvalidOrderInfo> {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            let c = if c.is_whitespace() {
                ' '
            } else {
                fold_diacritic(c)
            };
            if !is_allowed(c) || (c == ' ' && (out.is_empty() || out.ends_with(' '))) {
                continue;
            }
            out.push(c);
        }
        out.truncate(MAX_LEN);
        let trimmed = out.trim_end();
        if trimmed.is_empty() {
            return Err(InvalidOrderInfo::Empty);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for OrderInfo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Base letter and its accented forms, lowercase and uppercase.
const FOLDS: &[(char, &str)] = &[
    ('a', "àáảãạăằắẳẵặâầấẩẫậäåā"),
    ('A', "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÄÅĀ"),
    ('e', "èéẻẽẹêềếểễệëē"),
    ('E', "ÈÉẺẼẸÊỀẾỂỄỆËĒ"),
    ('i', "ìíỉĩịîïī"),
    ('I', "ÌÍỈĨỊÎÏĪ"),
    ('o', "òóỏõọôồốổỗộơờớởỡợöøō"),
    ('O', "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÖØŌ"),
    ('u', "ùúủũụưừứửữựûüū"),
    ('U', "ÙÚỦŨỤƯỪỨỬỮỰÛÜŪ"),
    ('y', "ỳýỷỹỵÿ"),
    ('Y', "ỲÝỶỸỴŸ"),
    ('d', "đ"),
    ('D', "ĐÐ"),
    ('c', "ç"),
    ('C', "Ç"),
    ('n', "ñ"),
    ('N', "Ñ"),
];

fn fold_diacritic(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    FOLDS
        .iter()
        .find(|(_, forms)| forms.contains(c))
        .map_or(c, |(base, _)| *base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_with_the_safe_punctuation_is_accepted() {
        let info = OrderInfo::parse("Thanh toan don hang: #123, ref_a-b.c");
        assert_eq!(
            info.map(|i| i.0).as_deref(),
            Ok("Thanh toan don hang: #123, ref_a-b.c")
        );
    }

    #[test]
    fn strict_parsing_rejects_diacritics_and_other_symbols() {
        assert_eq!(
            OrderInfo::parse("Đơn hàng"),
            Err(InvalidOrderInfo::ForbiddenChar('Đ'))
        );
        assert_eq!(
            OrderInfo::parse("a+b"),
            Err(InvalidOrderInfo::ForbiddenChar('+'))
        );
        assert_eq!(OrderInfo::parse("   "), Err(InvalidOrderInfo::Empty));
        assert_eq!(
            OrderInfo::parse("x".repeat(256)),
            Err(InvalidOrderInfo::TooLong(256))
        );
    }

    #[test]
    fn sanitizing_folds_vietnamese_diacritics_and_drops_other_characters() {
        let info = OrderInfo::sanitize("  Đơn hàng #12 (flash sale!)\tngười mua  ");
        assert_eq!(
            info.map(|i| i.0).as_deref(),
            Ok("Don hang #12 flash sale nguoi mua")
        );
    }

    #[test]
    fn sanitizing_covers_every_vietnamese_vowel_form() {
        let all: String = FOLDS.iter().map(|(_, forms)| *forms).collect();
        let info = OrderInfo::sanitize(&all);
        assert!(info.is_ok_and(|i| i.0.bytes().all(|b| b.is_ascii_alphabetic())));
    }

    #[test]
    fn sanitizing_text_with_nothing_usable_fails() {
        assert_eq!(OrderInfo::sanitize("!!! ???"), Err(InvalidOrderInfo::Empty));
    }

    #[test]
    fn sanitized_text_is_truncated_to_255_characters() {
        let info = OrderInfo::sanitize(&"ă".repeat(300));
        assert_eq!(info.map(|i| i.0.len()), Ok(255));
    }
}
