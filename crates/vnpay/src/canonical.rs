//! The canonical query string that VNPay signs (spec §3.1 steps 1–4).
//!
//! Only `vnp_*` parameters, minus the hash fields, sorted by name in byte order, each value
//! `application/x-www-form-urlencoded` (space → `+`, uppercase `%XX`), joined with `&`.

use std::borrow::Cow;

/// The hash parameter itself, never part of the signed data.
pub const SECURE_HASH: &str = "vnp_SecureHash";
/// A 2.0.x leftover: never sent in 2.1.0 and never signed.
pub const SECURE_HASH_TYPE: &str = "vnp_SecureHashType";

/// What to do with parameters whose value is empty (spec §3.5, uncertain upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyValues {
    /// Leave them out of the signed data (Java, C# demos and most libraries). The default.
    #[default]
    Drop,
    /// Sign them as `name=` (the official PHP demo).
    Sign,
}

/// Whether a parameter name takes part in the signature.
pub fn is_signed_name(name: &str) -> bool {
    name.starts_with("vnp_") && name != SECURE_HASH && name != SECURE_HASH_TYPE
}

/// Form-encodes one value the way VNPay signs it: `a b:` → `a+b%3A`.
pub fn encode_value(value: &str) -> Cow<'_, str> {
    let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    if encoded == value {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(encoded)
    }
}

/// The canonical string over decoded parameters, dropping empty values.
pub fn canonical_query<K, V>(params: impl IntoIterator<Item = (K, V)>) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    canonical_query_with(params, EmptyValues::Drop)
}

/// The canonical string over decoded parameters, with an explicit rule for empty values.
pub fn canonical_query_with<K, V>(
    params: impl IntoIterator<Item = (K, V)>,
    empty: EmptyValues,
) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let pairs: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, v)| keep(k.as_ref(), v.as_ref(), empty))
        .map(|(k, v)| (k.as_ref().to_owned(), encode_value(v.as_ref()).into_owned()))
        .collect();
    join_sorted(pairs)
}

/// The raw `k=v` substrings of a received query, exactly as sent, filtered and sorted like the
/// canonical form. Used as a fallback when the sender encoded values differently (e.g. `%20`).
/// Whether a pair is signed is decided on its name as the reader decodes it: a parameter sent as
/// `vnp%5FResponseCode` is read as `vnp_ResponseCode`, so it must be in the signed data too, or
/// anyone could add it, unsigned, to a query the secret signed (a buyer's own payment URL).
pub fn raw_sorted_query(raw_query: &str, empty: EmptyValues) -> String {
    let pairs: Vec<(String, String)> = raw_query
        .trim_start_matches('?')
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (part.to_owned(), String::new()),
        })
        .filter(|(k, v)| keep(&decoded_name(k), v, empty))
        .collect();
    join_sorted(pairs)
}

/// A parameter's name as a form decoder reads it (`vnp%5FX` is `vnp_X`).
fn decoded_name(raw: &str) -> Cow<'_, str> {
    form_urlencoded::parse(raw.as_bytes())
        .next()
        .map_or(Cow::Borrowed(""), |(name, _)| name)
}

fn keep(name: &str, value: &str, empty: EmptyValues) -> bool {
    is_signed_name(name) && (empty == EmptyValues::Sign || !value.is_empty())
}

fn join_sorted(mut pairs: Vec<(String, String)>) -> String {
    // `str` ordering is byte order, which is what PHP ksort / Java Collections.sort give for ASCII names.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_form_encoded_with_plus_for_space_and_uppercase_hex() {
        assert_eq!(
            encode_value("a b:/?#&=+~*!()',;ệ"),
            "a+b%3A%2F%3F%23%26%3D%2B%7E*%21%28%29%27%2C%3B%E1%BB%87"
        );
    }

    #[test]
    fn names_outside_the_vnp_prefix_and_hash_fields_are_not_signed() {
        let q = canonical_query([
            ("userId", "7"),
            ("vnp_SecureHash", "abc"),
            ("vnp_SecureHashType", "HmacSHA512"),
            ("vnp_TxnRef", "1"),
        ]);
        assert_eq!(q, "vnp_TxnRef=1");
    }

    #[test]
    fn empty_values_are_dropped_by_default_and_signed_on_request() {
        let params = [("vnp_B", ""), ("vnp_A", "1")];
        assert_eq!(canonical_query(params), "vnp_A=1");
        assert_eq!(
            canonical_query_with(params, EmptyValues::Sign),
            "vnp_A=1&vnp_B="
        );
    }

    #[test]
    fn names_sort_in_byte_order_so_uppercase_comes_before_lowercase() {
        let q = canonical_query([("vnp_a", "1"), ("vnp_B", "2"), ("vnp_Bill_City", "3")]);
        assert_eq!(q, "vnp_B=2&vnp_Bill_City=3&vnp_a=1");
    }

    #[test]
    fn the_raw_fallback_signs_every_parameter_a_reader_decodes_as_signed() {
        let raw = "vnp_TxnRef=1&vnp%5FResponseCode=00&%76np_TransactionStatus=00&vnp_X=%00";
        assert_eq!(
            raw_sorted_query(raw, EmptyValues::Drop),
            "%76np_TransactionStatus=00&vnp%5FResponseCode=00&vnp_TxnRef=1&vnp_X=%00"
        );
    }

    #[test]
    fn the_raw_fallback_keeps_substrings_exactly_as_received() {
        let raw = "vnp_OrderInfo=A%20B&x=1&vnp_Amount=100&vnp_SecureHash=ff&vnp_Empty=";
        assert_eq!(
            raw_sorted_query(raw, EmptyValues::Drop),
            "vnp_Amount=100&vnp_OrderInfo=A%20B"
        );
    }
}
