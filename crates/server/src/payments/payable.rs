//! Amounts the gateway can take in one payment, as the HTTP edge refuses them: a price at product
//! creation or update, and price × quantity at purchase. Refused before anything is written, so no
//! order ever holds units it could never be paid for.

use crate::http::problem::Problem;
use axum::http::StatusCode;
use flashgate_core::Vnd;
use flashgate_core::payment::PAYABLE_VND;

/// A product's price: not a price at all (zero or less) is `invalid_request`; one no single unit of
/// which the gateway could take is `price_not_payable`.
pub fn price(raw: i64) -> Result<Vnd, Problem> {
    if raw > 0 && !PAYABLE_VND.contains(&raw) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "price_not_payable",
            "The price cannot be paid through the gateway",
            format!(
                "price_vnd: the gateway takes payments from {} up to, not including, {} VND.",
                PAYABLE_VND.start, PAYABLE_VND.end
            ),
        ));
    }
    Vnd::price(raw).map_err(|e| Problem::invalid_request(e.to_string()))
}

/// The answer to a purchase whose price × quantity the gateway would refuse.
pub fn amount_not_payable() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_not_payable",
        "The order's amount cannot be paid through the gateway",
        format!(
            "price × quantity must be from {} up to, not including, {} VND; order fewer units.",
            PAYABLE_VND.start, PAYABLE_VND.end
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashgate_core::payment::is_payable;

    #[test]
    fn a_price_below_or_at_the_gateway_limits_is_refused_by_name() {
        for raw in [1_000, 4_999, 1_000_000_000] {
            assert_eq!(price(raw).map_err(|p| p.code), Err("price_not_payable"));
        }
        assert!(price(5_000).is_ok() && price(999_999_999).is_ok());
        assert_eq!(price(0).map_err(|p| p.code), Err("invalid_request"));
        assert!(is_payable(Vnd::from_stored(5_000)));
    }
}
