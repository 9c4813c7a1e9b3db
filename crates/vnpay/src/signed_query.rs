//! Signing an outgoing query and verifying a received one (spec §3.1, §3.2).
//!
//! Verification runs over the raw received values, before any conversion. It accepts the canonical
//! form (space as `+`), the same with `%20` for a space, and the received `k=v` substrings as
//! they were sent; every form still needs the secret.

use std::collections::BTreeMap;

use crate::canonical::{self, EmptyValues, SECURE_HASH};
use crate::signature::HashSecret;

/// Why a received query is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `vnp_SecureHash` parameter.
    #[error("vnp_SecureHash is missing")]
    Missing,
    /// The hash does not match any accepted encoding of the data.
    #[error("vnp_SecureHash does not match the data")]
    Mismatch,
    /// A signed parameter appears twice, so which value was signed is ambiguous.
    #[error("parameter {0} appears more than once")]
    DuplicateParameter(String),
}

/// A query received from VNPay (Return URL or IPN): decoded, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuery {
    raw: Option<String>,
    params: BTreeMap<String, String>,
}

impl ReceivedQuery {
    /// Form-decodes a raw query string (with or without the leading `?`), keeping it for the
    /// as-received fallback.
    pub fn parse(raw_query: &str) -> Result<Self, SignatureError> {
        let raw_query = raw_query.trim_start_matches('?');
        let pairs = form_urlencoded::parse(raw_query.as_bytes()).into_owned();
        let mut query = Self::from_params(pairs)?;
        query.raw = Some(raw_query.to_owned());
        Ok(query)
    }

    /// Takes parameters a web framework already decoded. Only the canonical forms can be
    /// checked then; prefer [`ReceivedQuery::parse`] on the raw query when it is available.
    pub fn from_params<K, V>(
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SignatureError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (k, v) in params {
            let k = k.into();
            if map.insert(k.clone(), v.into()).is_some() && k.starts_with("vnp_") {
                return Err(SignatureError::DuplicateParameter(k));
            }
        }
        Ok(Self {
            raw: None,
            params: map,
        })
    }

    /// A decoded parameter value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Every decoded parameter, including the merchant's own ones on the Return URL.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// Checks `vnp_SecureHash` with the default rule for empty values (dropped).
    pub fn verify(&self, secret: &HashSecret) -> Result<(), SignatureError> {
        self.verify_with(secret, EmptyValues::Drop)
    }

    /// Checks `vnp_SecureHash` with an explicit rule for empty values.
    pub fn verify_with(
        &self,
        secret: &HashSecret,
        empty: EmptyValues,
    ) -> Result<(), SignatureError> {
        let hash = self.get(SECURE_HASH).ok_or(SignatureError::Missing)?;
        let canonical = canonical::canonical_query_with(&self.params, empty);
        // `+` only ever stands for a space here: a literal plus is encoded as %2B.
        let with_pct20 = canonical.replace('+', "%20");
        let raw = self
            .raw
            .as_deref()
            .map(|raw| canonical::raw_sorted_query(raw, empty));
        let candidates = [Some(canonical), Some(with_pct20), raw];
        if candidates
            .iter()
            .flatten()
            .any(|data| secret.verify(data, hash))
        {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// A signed outgoing query: the canonical string plus its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuery {
    /// The signed data (spec §3.1 step 4).
    pub canonical: String,
    /// `vnp_SecureHash`, lowercase hex.
    pub secure_hash: String,
}

impl SignedQuery {
    /// Signs the `vnp_*` parameters, dropping empty values (they must then never be sent).
    pub fn sign<K, V>(params: impl IntoIterator<Item = (K, V)>, secret: &HashSecret) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let canonical = canonical::canonical_query(params);
        let secure_hash = secret.sign(&canonical);
        Self {
            canonical,
            secure_hash,
        }
    }

    /// The query to send: `<canonical>&vnp_SecureHash=<hex>`.
    pub fn to_query(&self) -> String {
        if self.canonical.is_empty() {
            format!("{SECURE_HASH}={}", self.secure_hash)
        } else {
            format!("{}&{SECURE_HASH}={}", self.canonical, self.secure_hash)
        }
    }

    /// `base` with the query appended, using `?` or `&` as `base` requires.
    pub fn append_to(&self, base: &str) -> String {
        let sep = if base.contains('?') {
            if base.ends_with('?') || base.ends_with('&') {
                ""
            } else {
                "&"
            }
        } else {
            "?"
        };
        format!("{base}{sep}{}", self.to_query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> HashSecret {
        HashSecret::new("s3cret")
    }

    #[test]
    fn a_signed_query_verifies_after_a_round_trip_through_the_url() {
        let signed =
            SignedQuery::sign([("vnp_OrderInfo", "a b:c"), ("vnp_TxnRef", "1")], &secret());
        let received = ReceivedQuery::parse(&signed.to_query());
        assert_eq!(received.and_then(|q| q.verify(&secret())), Ok(()));
    }

    #[test]
    fn a_space_sent_as_pct20_is_accepted() {
        let data = "vnp_OrderInfo=a%20b&vnp_TxnRef=1";
        let raw = format!("{data}&vnp_SecureHash={}", secret().sign(data));
        assert_eq!(
            ReceivedQuery::parse(&raw).and_then(|q| q.verify(&secret())),
            Ok(())
        );
    }

    #[test]
    fn decoded_params_signed_with_pct20_for_spaces_are_accepted() {
        let hash = secret().sign("vnp_OrderInfo=a%20b");
        let q = ReceivedQuery::from_params([("vnp_OrderInfo", "a b"), ("vnp_SecureHash", &hash)]);
        assert_eq!(q.and_then(|q| q.verify(&secret())), Ok(()));
    }

    #[test]
    fn lowercase_percent_hex_as_received_is_accepted() {
        let data = "vnp_ReturnUrl=https%3a%2f%2fx.vn";
        let raw = format!("{data}&vnp_SecureHash={}", secret().sign(data));
        assert_eq!(
            ReceivedQuery::parse(&raw).and_then(|q| q.verify(&secret())),
            Ok(())
        );
    }

    #[test]
    fn a_missing_hash_is_reported_as_missing() {
        let q = ReceivedQuery::parse("vnp_TxnRef=1");
        assert_eq!(
            q.and_then(|q| q.verify(&secret())),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_duplicated_signed_parameter_is_refused() {
        let q = ReceivedQuery::parse("vnp_TxnRef=1&vnp_TxnRef=2");
        assert_eq!(
            q,
            Err(SignatureError::DuplicateParameter("vnp_TxnRef".into()))
        );
    }

    #[test]
    fn merchant_parameters_on_the_return_url_do_not_affect_the_signature() {
        let signed = SignedQuery::sign([("vnp_TxnRef", "1")], &secret());
        let url = signed.append_to("https://shop.vn/return?cartId=9");
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let q = ReceivedQuery::parse(query);
        assert_eq!(q.and_then(|q| q.verify(&secret())), Ok(()));
    }

    #[test]
    fn appending_uses_question_mark_or_ampersand_as_needed() {
        let signed = SignedQuery {
            canonical: "a=1".into(),
            secure_hash: "h".into(),
        };
        assert_eq!(
            signed.append_to("http://x/r"),
            "http://x/r?a=1&vnp_SecureHash=h"
        );
        assert_eq!(
            signed.append_to("http://x/r?k=v"),
            "http://x/r?k=v&a=1&vnp_SecureHash=h"
        );
        assert_eq!(
            signed.append_to("http://x/r?"),
            "http://x/r?a=1&vnp_SecureHash=h"
        );
    }
}
