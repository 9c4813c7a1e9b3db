//! HMAC-SHA512 signing with the terminal's shared secret (spec §3.1 step 5).
//!
//! Hashes are emitted as lowercase hex and verified in constant time, accepting either hex case.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// The `vnp_HashSecret` shared between a terminal and VNPay.
///
/// Used as raw UTF-8 bytes (never hex-decoded). Its `Debug` output is redacted so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct HashSecret(String);

impl HashSecret {
    /// Wraps a secret exactly as VNPay issued it.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; call only where it must be handed to another signer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `lowercase_hex(HMAC-SHA512(secret, data))`.
    pub fn sign(&self, data: &str) -> String {
        hex::encode(self.mac(data).finalize().into_bytes())
    }

    /// Whether `hash_hex` is the HMAC of `data`. Hex case is ignored; the comparison is constant time.
    pub fn verify(&self, data: &str, hash_hex: &str) -> bool {
        let Ok(expected) = hex::decode(hash_hex.trim()) else {
            return false;
        };
        self.mac(data).verify_slice(&expected).is_ok()
    }

    fn mac(&self, data: &str) -> HmacSha512 {
        // HMAC accepts keys of any length, so this branch never runs; an empty key keeps it total.
        let mut mac = HmacSha512::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| <HmacSha512 as hmac::digest::KeyInit>::new(&Default::default()));
        mac.update(data.as_bytes());
        mac
    }
}

impl fmt::Debug for HashSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashSecret(<redacted>)")
    }
}

impl From<&str> for HashSecret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for HashSecret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha512_of_data_with_key_secret_matches_the_published_sanity_vector() {
        assert_eq!(
            HashSecret::new("secret").sign("data"),
            "6274071d33dec2728a2a1c903697fc1210b3252221c3d137e12d9f1ae5c8ed53e05e692b05a9eefff289667e2387c0fc0bd8a3d9bd7000782730c856a77a77d5"
        );
    }

    #[test]
    fn a_raw_string_is_signed_as_is() {
        // Spec §8 A2.
        let data =
            "vnp_Amount=10000&vnp_OrderInfo=Payment+for+order+%231234567890&vnp_TnxRef=1234567890";
        assert_eq!(
            HashSecret::new("YOUR_SECURE_SECRET").sign(data),
            "7bb8160a5d2085a85b3267817a40ee4f770a335282f19714726e6fc6f28a64c75a1e7e9c1aa96f3cbda5ce44095088fb4cb2af66c596d2f655b0b53966312089"
        );
    }

    #[test]
    fn verification_accepts_uppercase_hex() {
        let secret = HashSecret::new("k");
        let hash = secret.sign("m").to_uppercase();
        assert!(secret.verify("m", &hash));
    }

    #[test]
    fn verification_rejects_non_hex_truncated_and_foreign_hashes() {
        let secret = HashSecret::new("k");
        let hash = secret.sign("m");
        assert!(!secret.verify("m", "zz"));
        assert!(!secret.verify("m", &hash[..64]));
        assert!(!secret.verify("other", &hash));
        assert!(!HashSecret::new("k2").verify("m", &hash));
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        assert!(!format!("{:?}", HashSecret::new("hunter2")).contains("hunter2"));
    }
}
