//! Buyer tokens: JWTs whose `sub` is the customer id and whose `exp` is required. A token without a
//! `kid` is HS256 with the shared secret (what `flashgate token` mints); a token with a `kid` is
//! verified only with the public key configured under that kid (or, failing that, the shop's JWKS
//! key of that kid) and only with that key's algorithm, so several keys can be live during a
//! rotation and no token chooses how it is checked (no HS256 "signed" with an RSA public key's
//! bytes). Expiry is judged by the service's clock, with leeway; `iss` and `aud` are required and
//! checked, for every kind of key, when `auth.issuer` and `auth.audience` are set.

use super::jwks::Jwks;
use super::settings::{AuthSettings, KeyAlgorithm, PublicKeySettings};
use anyhow::Context;
use flashgate_core::{Clock, CustomerId, SystemClock};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Clocks of the shop and flashgate drift a little; half a minute is the usual tolerance.
const DEFAULT_LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// One audience or a list of them, as shops' identity providers write it; checked by the
    /// validation, never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub customer: CustomerId,
    /// Its `exp`; `None` only past the calendar's end.
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's subject is not a valid customer id")]
    BadSubject,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("no key is configured for the token's kid `{0}`")]
    UnknownKey(String),
    #[error("the token's algorithm {0:?} is not the one configured for its key")]
    AlgorithmNotAllowed(Algorithm),
}

/// One way of checking a signature: a key and the only algorithm it may be used with.
#[derive(Clone)]
pub(super) struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// The `iss` and `aud` tokens must carry, when the shop's tokens say who issued them and for whom.
#[derive(Clone, Debug, Default)]
pub(super) struct Expected {
    issuer: Option<String>,
    audience: Option<String>,
}

impl Expected {
    pub(super) fn from_settings(auth: &AuthSettings) -> Self {
        let set = |value: &str| Some(value.to_owned()).filter(|v| !v.is_empty());
        Self {
            issuer: set(&auth.issuer),
            audience: set(&auth.audience),
        }
    }
}

impl Verifier {
    pub(super) fn new(key: DecodingKey, alg: Algorithm, expected: &Expected) -> Self {
        let mut validation = Validation::new(alg);
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &expected.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &expected.audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        } else {
            // Unset means unchecked: the library would refuse any token that carries an `aud`.
            validation.validate_aud = false;
        }
        validation.set_required_spec_claims(&required);
        // Expiry is checked against the service's clock below, with the configured leeway.
        validation.validate_exp = false;
        Self { key, validation }
    }
}

/// Verifies buyer tokens against the shared secret, the configured public keys and the shop's JWKS;
/// mints HS256 ones.
#[derive(Clone)]
pub struct BuyerTokens {
    encoding: EncodingKey,
    shared: Verifier,
    by_kid: HashMap<String, Verifier>,
    /// The keys of `auth.jwks_url`, when set.
    jwks: Option<Arc<Jwks>>,
    leeway_seconds: i64,
    expected: Expected,
    clock: Arc<dyn Clock>,
    /// Signatures checked so far: what a client costs before it is known to be a buyer.
    verifications: Arc<AtomicU64>,
    /// Tokens already verified, by their exact text (shared by clones).
    verified: Arc<quick_cache::sync::Cache<String, Arc<Seen>>>,
}

/// Tokens remembered once verified: a crowd sends the same token again and again, and its claims
/// stand until they expire (a token is not revocable), so a repeat costs a lookup instead of the
/// header and claims parsing and the signature check. Bounded, and each entry lives at most
/// `VERIFIED_FOR`, whatever its `exp`.
const VERIFIED_CAPACITY: usize = 100_000;
const VERIFIED_FOR: Duration = Duration::from_secs(600);

/// What a verified token said, and the JWKS key that verified it, if one did.
struct Seen {
    /// When this entry stops being trusted: `VERIFIED_FOR` after the check.
    until: Instant,
    token: VerifiedToken,
    exp: i64,
    nbf: Option<i64>,
    jwks_key: Option<(String, Arc<Verifier>)>,
}

impl Seen {
    /// A configured key or the shared secret stands as long as the process; a JWKS key only while
    /// it is still its kid's key (a refresh that dropped or replaced it has the token checked again).
    fn key_stands(&self, jwks: Option<&Jwks>) -> bool {
        match (&self.jwks_key, jwks) {
            (None, _) => true,
            (Some((kid, key)), Some(jwks)) => jwks
                .lookup(kid)
                .is_some_and(|current| Arc::ptr_eq(&current, key)),
            (Some(_), None) => false,
        }
    }
}

pub(super) fn decoding_key(key: &PublicKeySettings) -> anyhow::Result<DecodingKey> {
    let pem = key.public_key_pem.as_bytes();
    match key.alg {
        KeyAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        KeyAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        KeyAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
    }
    .with_context(|| {
        format!(
            "auth.keys: the public key of kid `{}` is not a {:?} public key in PEM",
            key.kid, key.alg
        )
    })
}

/// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` header names an extension it does
/// not understand, and flashgate understands none, so any `crit` (even empty or null, both invalid)
/// is refused. Read from the header's own JSON: the library's `Header` would take `null` for absent.
fn refuse_critical(token: &str) -> Result<(), TokenError> {
    use base64::Engine;
    let invalid =
        || TokenError::Invalid("the token's header names critical extensions (crit)".into());
    let encoded = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|e| TokenError::Invalid(e.to_string()))?;
    if header.contains_key("crit") {
        return Err(invalid());
    }
    Ok(())
}

impl BuyerTokens {
    /// HS256 with `secret` only, the default leeway and the system clock.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            shared: Verifier::new(
                DecodingKey::from_secret(secret),
                Algorithm::HS256,
                &Expected::default(),
            ),
            by_kid: HashMap::new(),
            jwks: None,
            leeway_seconds: DEFAULT_LEEWAY_SECONDS,
            expected: Expected::default(),
            clock: Arc::new(SystemClock),
            verifications: Arc::default(),
            verified: Arc::new(quick_cache::sync::Cache::new(VERIFIED_CAPACITY)),
        }
    }

    /// HS256 with `secret`, plus every key of `[auth]`, with its leeway, judged by `clock`.
    pub fn from_settings(
        secret: &[u8],
        auth: &AuthSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let expected = Expected::from_settings(auth);
        let mut by_kid = HashMap::new();
        for key in &auth.keys {
            let alg = match key.alg {
                KeyAlgorithm::RS256 => Algorithm::RS256,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            };
            by_kid.insert(
                key.kid.clone(),
                Verifier::new(decoding_key(key)?, alg, &expected),
            );
        }
        Ok(Self {
            shared: Verifier::new(
                DecodingKey::from_secret(secret),
                Algorithm::HS256,
                &expected,
            ),
            by_kid,
            leeway_seconds: i64::try_from(auth.leeway_seconds).unwrap_or(i64::MAX),
            expected,
            clock,
            ..Self::new(secret)
        })
    }

    /// These tokens, also checked with the keys of the shop's JWKS (configured keys win on a kid).
    pub fn with_jwks(self, jwks: Arc<Jwks>) -> Self {
        Self {
            jwks: Some(jwks),
            ..self
        }
    }

    /// The shop's JWKS keys, when `auth.jwks_url` is set.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
    }

    /// How many signatures this verifier (and its clones) has checked.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub async fn verify(&self, token: &str) -> Result<CustomerId, TokenError> {
        self.verify_token(token)
            .await
            .map(|verified| verified.customer)
    }

    /// The customer and expiry of a valid token. Awaits only for a kid that no key has yet, while
    /// the shop's JWKS is fetched again (at most once per `auth.jwks_min_refresh_seconds`).
    pub async fn verify_token(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        if let Some(seen) = self.verified.get(token)
            && Instant::now() < seen.until
            && seen.key_stands(self.jwks.as_deref())
        {
            self.in_time(seen.exp, seen.nbf)?;
            return Ok(seen.token.clone());
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        refuse_critical(token)?;
        let (claims, jwks_key) = match &header.kid {
            None => (self.check(token, &header, &self.shared)?, None),
            Some(kid) => match self.by_kid.get(kid) {
                Some(verifier) => (self.check(token, &header, verifier)?, None),
                None => {
                    let jwks = self
                        .jwks
                        .as_ref()
                        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
                    let verifier = jwks
                        .verifier(kid)
                        .await
                        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
                    let claims = self.check(token, &header, &verifier)?;
                    (claims, Some((kid.clone(), verifier)))
                }
            },
        };
        self.in_time(claims.exp, claims.nbf)?;
        let verified = VerifiedToken {
            customer: CustomerId::parse(&claims.sub).map_err(|_| TokenError::BadSubject)?,
            expires_at: OffsetDateTime::from_unix_timestamp(claims.exp).ok(),
        };
        self.verified.insert(
            token.to_owned(),
            Arc::new(Seen {
                until: Instant::now() + VERIFIED_FOR,
                token: verified.clone(),
                exp: claims.exp,
                nbf: claims.nbf,
                jwks_key,
            }),
        );
        Ok(verified)
    }

    /// The token's signature and claims, by the key's one algorithm.
    fn check(
        &self,
        token: &str,
        header: &Header,
        verifier: &Verifier,
    ) -> Result<Claims, TokenError> {
        // The key decides the algorithm, never the token: checked here so the refusal says why.
        if !verifier.validation.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed(header.alg));
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// `exp` and `nbf` judged by the service's clock, with leeway.
    fn in_time(&self, exp: i64, nbf: Option<i64>) -> Result<(), TokenError> {
        let now = self.clock.now().unix_timestamp();
        if exp.saturating_add(self.leeway_seconds) <= now {
            return Err(TokenError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf.saturating_sub(self.leeway_seconds) > now) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// An HS256 token for `customer`, valid for `ttl` from now by the service's clock, with the
    /// configured `iss` and `aud`.
    pub fn mint(&self, customer: &CustomerId, ttl: time::Duration) -> Result<String, TokenError> {
        let claims = Claims {
            sub: customer.as_str().to_owned(),
            exp: self.clock.now().saturating_add(ttl).unix_timestamp(),
            nbf: None,
            iss: self.expected.issuer.clone(),
            aud: self
                .expected
                .audience
                .clone()
                .map(serde_json::Value::String),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn a_minted_token_verifies_to_its_customer() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::minutes(5)).unwrap();
        assert_eq!(tokens.verify(&token).await.unwrap(), customer);
    }

    #[tokio::test]
    async fn a_repeated_token_is_checked_once_and_still_expires() {
        let clock = Arc::new(flashgate_core::ManualClock::new(OffsetDateTime::now_utc()));
        let tokens = BuyerTokens::from_settings(SECRET, &auth("", ""), clock.clone()).unwrap();
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::minutes(5)).unwrap();
        for _ in 0..3 {
            assert_eq!(tokens.verify(&token).await.unwrap(), customer);
        }
        assert_eq!(
            tokens.verifications(),
            1,
            "one signature check for three requests"
        );
        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert!(
            tokens.verify(&tampered).await.is_err(),
            "another text is checked"
        );
        clock.advance(time::Duration::minutes(6));
        assert!(matches!(
            tokens.verify_token(&token).await,
            Err(TokenError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = BuyerTokens::new(b"another-key-another-key-another!")
            .mint(&customer, time::Duration::minutes(5))
            .unwrap();
        assert!(BuyerTokens::new(SECRET).verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::minutes(-5)).unwrap();
        assert!(matches!(
            tokens.verify(&token).await,
            Err(TokenError::Expired)
        ));
    }

    fn auth(issuer: &str, audience: &str) -> AuthSettings {
        let mut figment = crate::config::Settings::from_figment(figment::Figment::from(
            <figment::providers::Toml as figment::providers::Format>::string(
                crate::config::DEFAULTS,
            ),
        ))
        .unwrap()
        .auth;
        figment.issuer = issuer.to_owned();
        figment.audience = audience.to_owned();
        figment
    }

    #[tokio::test]
    async fn issuer_and_audience_are_required_when_configured() {
        let customer = CustomerId::parse("cus_1").unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let checked =
            BuyerTokens::from_settings(SECRET, &auth("shop", "flashgate"), clock.clone()).unwrap();
        let bare = BuyerTokens::new(SECRET)
            .mint(&customer, time::Duration::minutes(5))
            .unwrap();
        assert!(checked.verify(&bare).await.is_err(), "no iss nor aud");
        let other = BuyerTokens::from_settings(SECRET, &auth("shop", "elsewhere"), clock.clone())
            .unwrap()
            .mint(&customer, time::Duration::minutes(5))
            .unwrap();
        assert!(checked.verify(&other).await.is_err(), "another audience");
        let own = checked.mint(&customer, time::Duration::minutes(5)).unwrap();
        assert_eq!(checked.verify(&own).await.unwrap(), customer);
        assert_eq!(checked.verifications(), 3);
        // Unset, neither is checked: a token that carries them is as good as a bare one.
        let unchecked = BuyerTokens::new(SECRET);
        assert_eq!(unchecked.verify(&other).await.unwrap(), customer);
    }

    /// A token whose header names critical extensions is refused whatever they are (RFC 7515
    /// §4.1.11), though its signature is good.
    #[tokio::test]
    async fn a_token_with_critical_header_extensions_is_refused() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let claims = Claims {
            sub: customer.as_str().to_owned(),
            exp: OffsetDateTime::now_utc().unix_timestamp() + 300,
            nbf: None,
            iss: None,
            aud: None,
        };
        let key = EncodingKey::from_secret(SECRET);
        for crit in [
            serde_json::json!(["exp"]),
            serde_json::json!(["b64"]),
            serde_json::json!([]),
            serde_json::Value::Null,
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.extras.insert("crit", crit.clone());
            let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            assert!(
                matches!(tokens.verify(&token).await, Err(TokenError::Invalid(_))),
                "crit = {crit}"
            );
        }
        let plain = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(tokens.verify(&plain).await.unwrap(), customer);
    }

    #[tokio::test]
    async fn an_extreme_ttl_saturates_instead_of_panicking() {
        let tokens = BuyerTokens::new(SECRET);
        let customer = CustomerId::parse("cus_1").unwrap();
        let token = tokens.mint(&customer, time::Duration::MAX).unwrap();
        let verified = tokens.verify_token(&token).await.unwrap();
        assert_eq!(verified.customer, customer);
    }
}
