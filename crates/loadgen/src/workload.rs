//! Which request comes next: a pure function of the request's sequence number, so a run is
//! reproducible and the open and closed loops share one definition of each scenario's traffic.

use std::sync::Arc;

/// One request to make.
#[derive(Debug, Clone)]
pub enum Action {
    /// `POST /orders` as customer number `customer`; with `retry`, the same request is sent again with
    /// the same `Idempotency-Key` once the first answer is in.
    Purchase {
        product_id: i64,
        customer: usize,
        quantity: i64,
        retry: bool,
        /// The customer's one key, the same every time (a duplicate of their earlier purchase),
        /// instead of a key of the request's own.
        key_per_customer: bool,
    },
    /// A GET of a path on the service.
    Get { path: Arc<str> },
}

/// The traffic of a scenario once its products exist.
#[derive(Debug, Clone)]
pub enum Traffic {
    /// Purchases spread over `products` (one product: the hot product), customers taken in turn from
    /// the crowd.
    Purchases {
        products: Vec<i64>,
        crowd: usize,
        quantity: i64,
        retry_share: f64,
        /// Each customer tries once, then the traffic ends (everyone at sale start).
        once_each: bool,
        /// Every purchase of a customer sends that customer's one `Idempotency-Key`.
        key_per_customer: bool,
    },
    /// Reads of the given paths: `list_share` of them `GET /products`, the rest one product each.
    Reads { products: Vec<i64>, list_share: f64 },
    /// The same path every time.
    Fixed { path: Arc<str> },
}

/// splitmix64: a cheap, well-mixed hash so choices look random yet repeat from run to run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A number in [0, 1) drawn from `seq` and a salt.
fn unit(seq: u64, salt: u64) -> f64 {
    (mix(seq ^ salt.rotate_left(17)) >> 11) as f64 / (1u64 << 53) as f64
}

fn pick(seq: u64, salt: u64, len: usize) -> usize {
    (mix(seq ^ salt) % len.max(1) as u64) as usize
}

impl Traffic {
    /// The request number `seq`, or `None` when the scenario has no more to send.
    pub fn action(&self, seq: u64) -> Option<Action> {
        match self {
            Self::Purchases {
                products,
                crowd,
                quantity,
                retry_share,
                once_each,
                key_per_customer,
            } => {
                if *once_each && seq >= *crowd as u64 {
                    return None;
                }
                let product_id = *products.get(pick(seq, 1, products.len()))?;
                Some(Action::Purchase {
                    product_id,
                    customer: (seq % (*crowd).max(1) as u64) as usize,
                    quantity: *quantity,
                    retry: unit(seq, 2) < *retry_share,
                    key_per_customer: *key_per_customer,
                })
            }
            Self::Reads {
                products,
                list_share,
            } => {
                let path = if unit(seq, 3) < *list_share || products.is_empty() {
                    Arc::from("/products")
                } else {
                    let id = products[pick(seq, 4, products.len())];
                    Arc::from(format!("/products/{id}"))
                };
                Some(Action::Get { path })
            }
            Self::Fixed { path } => Some(Action::Get { path: path.clone() }),
        }
    }

    /// How many requests the traffic has at most.
    pub fn limit(&self) -> Option<u64> {
        match self {
            Self::Purchases {
                crowd,
                once_each: true,
                ..
            } => Some(*crowd as u64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(retry_share: f64, once_each: bool) -> Traffic {
        Traffic::Purchases {
            products: vec![9],
            crowd: 100,
            quantity: 1,
            retry_share,
            once_each,
            key_per_customer: false,
        }
    }

    #[test]
    fn the_retry_share_is_close_to_what_was_asked() {
        let traffic = hot(0.1, false);
        let retries = (0..10_000)
            .filter(|&seq| {
                matches!(
                    traffic.action(seq),
                    Some(Action::Purchase { retry: true, .. })
                )
            })
            .count();
        assert!((800..1200).contains(&retries), "{retries}");
    }

    #[test]
    fn customers_are_taken_in_turn_from_the_crowd() {
        let traffic = hot(0.0, false);
        let Some(Action::Purchase { customer, .. }) = traffic.action(103) else {
            panic!("a purchase was expected");
        };
        assert_eq!(customer, 3);
    }

    #[test]
    fn once_each_ends_after_the_crowd() {
        let traffic = hot(0.0, true);
        assert!(traffic.action(99).is_some());
        assert!(traffic.action(100).is_none());
        assert_eq!(traffic.limit(), Some(100));
    }

    #[test]
    fn reads_mix_the_list_and_single_products() {
        let traffic = Traffic::Reads {
            products: vec![1, 2],
            list_share: 0.2,
        };
        let lists = (0..1000)
            .filter(|&seq| {
                matches!(traffic.action(seq), Some(Action::Get { path }) if &*path == "/products")
            })
            .count();
        assert!((120..280).contains(&lists), "{lists}");
    }
}
