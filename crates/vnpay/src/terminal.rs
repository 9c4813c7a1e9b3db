//! A VNPay terminal: its `vnp_TmnCode` and the secret shared with the gateway.

use std::fmt;

use crate::signature::HashSecret;

/// `vnp_TmnCode`. Real codes are 8 alphanumerics; test fixtures use longer ones such as
/// `TEST_TMN_CODE`, so any 1–32 characters of `[A-Za-z0-9_-]` are accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TmnCode(String);

/// A terminal code outside `[A-Za-z0-9_-]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a terminal code")]
pub struct InvalidTmnCode(pub String);

impl TmnCode {
    /// Validates a terminal code.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidTmnCode> {
        let s = s.into();
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidTmnCode(s))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TmnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The credentials of one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// `vnp_TmnCode`.
    pub tmn_code: TmnCode,
    /// `vnp_HashSecret`.
    pub secret: HashSecret,
}

impl Terminal {
    /// Pairs a code with its secret.
    pub fn new(tmn_code: TmnCode, secret: HashSecret) -> Self {
        Self { tmn_code, secret }
    }

    /// The terminal of the spec's test vectors (`TEST_TMN_CODE`, `test_secret`).
    #[cfg(test)]
    pub(crate) fn spec_fixture() -> Self {
        Self::new(
            TmnCode("TEST_TMN_CODE".to_owned()),
            HashSecret::new("test_secret"),
        )
    }
}
