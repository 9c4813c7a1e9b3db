//! Buyer tokens: HS256 JWTs whose `sub` is the customer id and whose `exp` is required. A shop's login
//! mints them with the shared secret; `flashgate token` mints one for trying things out.

use flashgate_core::CustomerId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's subject is not a valid customer id")]
    BadSubject,
}

/// Verifies and mints buyer tokens with one HS256 key.
#[derive(Clone)]
pub struct BuyerTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl BuyerTokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Clocks of the shop and flashgate drift a little; half a minute is the usual tolerance.
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<CustomerId, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        CustomerId::parse(&data.claims.sub).map_err(|_| TokenError::BadSubject)
    }

    pub fn mint(&self, customer: &CustomerId, ttl: time::Duration) -> Result<String, TokenError> {
        let exp = (time::OffsetDateTime::now_utc() + ttl).unix_timestamp();
        let claims = Claims {
            sub: customer.as_str().to_owned(),
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_to_its_customer() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::minutes(5)).unwrap();
        assert_eq!(tokens.verify(&token).unwrap(), customer);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = BuyerTokens::new(b"another-key-another-key-another!")
            .mint(&customer, time::Duration::minutes(5))
            .unwrap();
        assert!(BuyerTokens::new(SECRET).verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::minutes(-5)).unwrap();
        assert!(tokens.verify(&token).is_err());
    }
}
