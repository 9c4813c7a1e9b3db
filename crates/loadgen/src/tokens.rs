//! Buyer identities: one HS256 JWT per customer of the crowd, minted with the service's `jwt_secret`
//! before the clock starts so that signing costs nothing during the measured window.

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderValue;
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: i64,
}

/// The crowd's tokens, indexed by customer number, each kept as its ready `Authorization` value:
/// formatting and checking the header on every request cost the load generator CPU that the server
/// it shares a machine with would otherwise get.
pub struct Crowd {
    prefix: String,
    authorizations: Vec<HeaderValue>,
}

impl Crowd {
    /// Mints `size` tokens for customers `<prefix>-0 … <prefix>-(size-1)`, valid for `ttl`.
    pub fn mint(
        secret: &str,
        prefix: &str,
        size: usize,
        ttl: time::Duration,
    ) -> anyhow::Result<Self> {
        let key = EncodingKey::from_secret(secret.as_bytes());
        let header = Header::new(Algorithm::HS256);
        let exp = (time::OffsetDateTime::now_utc() + ttl).unix_timestamp();
        let authorizations = (0..size)
            .map(|n| {
                let sub = format!("{prefix}-{n}");
                let token = jsonwebtoken::encode(&header, &Claims { sub: &sub, exp }, &key)
                    .context("minting a buyer token")?;
                let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                    .context("a minted token is not a header value")?;
                value.set_sensitive(true);
                Ok(value)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            prefix: prefix.to_owned(),
            authorizations,
        })
    }

    pub fn len(&self) -> usize {
        self.authorizations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.authorizations.is_empty()
    }

    /// Customer `n`'s `Authorization: Bearer …` value (wrapping around the crowd).
    pub fn authorization(&self, n: usize) -> &HeaderValue {
        &self.authorizations[n % self.authorizations.len().max(1)]
    }

    pub fn customer_id(&self, n: usize) -> String {
        format!("{}-{}", self.prefix, n % self.len().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[derive(serde::Deserialize)]
    struct Decoded {
        sub: String,
    }

    #[test]
    fn a_minted_bearer_names_its_customer_and_verifies_with_the_secret() {
        let secret = "0123456789abcdef0123456789abcdef";
        let crowd = Crowd::mint(secret, "lg", 3, time::Duration::minutes(5)).unwrap();
        let authorization = crowd.authorization(4).to_str().unwrap();
        let token = authorization.strip_prefix("Bearer ").unwrap();
        let data = jsonwebtoken::decode::<Decoded>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.claims.sub, "lg-1");
        assert_eq!(crowd.customer_id(4), "lg-1");
        assert!(crowd.authorization(4).is_sensitive());
    }
}
