//! What the querydr/refund API can answer, before anything may be acted on.
//!
//! A non-`00` reply often carries no hash (spec §5.2), so it is only ever a [`Rejection`]: a
//! code to log or retry on, never data about money. Verified data comes only from a signed `00`.

use std::fmt;

/// Pipe-joins checksum values (spec §5.1, §5.2, §6.1, §6.2); a missing value is an empty string.
pub fn pipe_join<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> String {
    values
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect::<Vec<_>>()
        .join("|")
}

/// A non-`00` answer from the gateway. Not necessarily authentic: act on it only as a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection<C> {
    /// The API response code.
    pub code: C,
    /// `vnp_Message`, as sent.
    pub message: String,
    /// Whether the reply carried a hash that verified.
    pub authenticated: bool,
}

impl<C: fmt::Display> fmt::Display for Rejection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}: {}", self.code, self.message)
    }
}

/// Why a reply cannot be turned into verified data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError<C: fmt::Debug + fmt::Display> {
    /// The gateway answered with a non-`00` code.
    #[error("gateway rejected the request with {0}")]
    Rejected(Rejection<C>),
    /// A `00` reply without `vnp_SecureHash`.
    #[error("the success reply carries no vnp_SecureHash")]
    MissingSignature,
    /// A `00` reply whose hash does not match.
    #[error("the success reply's vnp_SecureHash does not match")]
    BadSignature,
    /// A signed `00` reply with a missing or unusable field.
    #[error("field {field} is missing or malformed: {value:?}")]
    Malformed {
        /// The `vnp_*` name.
        field: &'static str,
        /// The value as received (empty when missing).
        value: String,
    },
}

pub(crate) fn malformed<C: fmt::Debug + fmt::Display>(
    field: &'static str,
    value: Option<&str>,
) -> ReplyError<C> {
    ReplyError::Malformed {
        field,
        value: value.unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_join_as_empty_strings() {
        assert_eq!(
            pipe_join([Some("a"), None, Some("c"), None, None]),
            "a||c||"
        );
    }
}
