//! What kind of answer a request got, in the terms of the overload targets: the answers a buyer
//! can act on (an order, sold out, over the limit, slow down, come back after `Retry-After`) against
//! everything else (other errors, timeouts, broken connections).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Class {
    /// 201: an order (new or replayed).
    Created,
    /// 409: sold out (or another conflict the buyer is told about).
    SoldOut,
    /// 403 `limit_exceeded`: the customer already holds their limit.
    OverLimit,
    /// 429: rate limited.
    RateLimited,
    /// 503 with `Retry-After`: shed, come back shortly.
    Shed,
    /// Any other 2xx or 4xx.
    OtherAnswer,
    /// A 5xx other than a 503 with `Retry-After`.
    ServerError,
    /// No answer within the client's timeout.
    Timeout,
    /// The connection failed or broke.
    Transport,
}

impl Class {
    pub fn of(status: Option<u16>, code: Option<&str>, retry_after: bool, timed_out: bool) -> Self {
        match status {
            None if timed_out => Self::Timeout,
            None => Self::Transport,
            Some(201) => Self::Created,
            Some(409) => Self::SoldOut,
            Some(403) if code == Some("limit_exceeded") => Self::OverLimit,
            Some(429) => Self::RateLimited,
            Some(503) if retry_after => Self::Shed,
            Some(s) if s >= 500 => Self::ServerError,
            Some(_) => Self::OtherAnswer,
        }
    }

    /// An HTTP answer of any kind arrived.
    pub fn answered(self) -> bool {
        !matches!(self, Self::Timeout | Self::Transport)
    }

    /// One of the answers a buyer is meant to get, even under overload.
    pub fn proper(self) -> bool {
        matches!(
            self,
            Self::Created | Self::SoldOut | Self::OverLimit | Self::RateLimited | Self::Shed
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "201",
            Self::SoldOut => "409",
            Self::OverLimit => "403 limit",
            Self::RateLimited => "429",
            Self::Shed => "503 Retry-After",
            Self::OtherAnswer => "other 2xx/4xx",
            Self::ServerError => "other 5xx",
            Self::Timeout => "timeout",
            Self::Transport => "transport error",
        }
    }

    /// Every class in report order.
    pub const ALL: [Class; 9] = [
        Self::Created,
        Self::SoldOut,
        Self::OverLimit,
        Self::RateLimited,
        Self::Shed,
        Self::OtherAnswer,
        Self::ServerError,
        Self::Timeout,
        Self::Transport,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_is_proper_only_with_retry_after() {
        assert_eq!(Class::of(Some(503), None, true, false), Class::Shed);
        assert_eq!(Class::of(Some(503), None, false, false), Class::ServerError);
        assert!(Class::Shed.proper());
        assert!(!Class::ServerError.proper());
    }

    #[test]
    fn no_answer_is_a_timeout_or_a_transport_error() {
        assert_eq!(Class::of(None, None, false, true), Class::Timeout);
        assert_eq!(Class::of(None, None, false, false), Class::Transport);
        assert!(!Class::Timeout.answered());
        assert!(Class::of(Some(500), None, true, false).answered());
    }

    #[test]
    fn the_buyers_answers_are_proper_and_other_refusals_are_not() {
        for (status, code) in [(201, None), (409, Some("sold_out")), (429, None)] {
            assert!(
                Class::of(Some(status), code, false, false).proper(),
                "{status}"
            );
        }
        assert_eq!(
            Class::of(Some(403), Some("limit_exceeded"), false, false),
            Class::OverLimit
        );
        assert_eq!(
            Class::of(Some(403), Some("sale_not_started"), false, false),
            Class::OtherAnswer
        );
        assert!(!Class::OtherAnswer.proper());
    }
}
