//! The `[auth]` settings: which credentials buyers may use, the public keys their tokens may be
//! signed with, the clock-skew tolerance and the sessions' timeouts.

use anyhow::{bail, ensure};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BuyerCredentials {
    Tokens,
    Sessions,
    Both,
}

impl BuyerCredentials {
    pub fn allows_tokens(self) -> bool {
        matches!(self, Self::Tokens | Self::Both)
    }

    pub fn allows_sessions(self) -> bool {
        matches!(self, Self::Sessions | Self::Both)
    }
}

/// The asymmetric algorithms a configured key may verify.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum KeyAlgorithm {
    RS256,
    EdDSA,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeySettings {
    pub kid: String,
    pub alg: KeyAlgorithm,
    pub public_key_pem: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub idle_timeout_seconds: u64,
    pub max_lifetime_seconds: u64,
    pub allow_bare_customer: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub buyers: BuyerCredentials,
    pub leeway_seconds: u64,
    #[serde(default)]
    pub keys: Vec<PublicKeySettings>,
    pub sessions: SessionSettings,
}

impl AuthSettings {
    /// Fails at start, naming the key, on what types alone cannot catch (a key that does not parse
    /// among them).
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut kids = HashSet::new();
        for key in &self.keys {
            ensure!(!key.kid.is_empty(), "auth.keys: a kid must not be empty");
            ensure!(
                kids.insert(key.kid.as_str()),
                "auth.keys: kid `{}` appears twice",
                key.kid
            );
            super::tokens::decoding_key(key)?;
        }
        let s = &self.sessions;
        if s.idle_timeout_seconds == 0 || s.max_lifetime_seconds < s.idle_timeout_seconds {
            bail!(
                "auth.sessions: idle_timeout_seconds must be at least 1 and max_lifetime_seconds at least as long"
            );
        }
        Ok(())
    }
}
