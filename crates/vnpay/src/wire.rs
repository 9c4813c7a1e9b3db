//! JSON value shapes seen on the querydr/refund API: numeric fields arrive as strings or numbers.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A JSON string or number, kept as the decimal string that gets signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringOrNumber(pub String);

impl StringOrNumber {
    /// For two-digit codes: a number such as `0` or `7` is padded to `00`/`07`.
    pub fn into_code(self) -> String {
        if self.0.len() == 1 && self.0.bytes().all(|b| b.is_ascii_digit()) {
            format!("0{}", self.0)
        } else {
            self.0
        }
    }
}

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `#[serde(deserialize_with)]` helper for an optional string-or-number field (`null` → `None`).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(|v| v.0))
}

/// A JSON body's values by their `vnp_*` names, so that signing and verifying are written once for
/// every body (each signs its own list of names).
pub trait WireFields {
    /// The value under this `vnp_*` name; `None` when absent or not a field of this body.
    fn wire(&self, key: &str) -> Option<&str>;

    /// Sets `vnp_SecureHash`.
    fn set_secure_hash(&mut self, hash: String);
}

/// Declares a JSON body of the querydr/refund API: every field an optional string under its
/// `vnp_*` name, accepting numbers on input and leaving absent fields out on output.
macro_rules! wire_body {
    ($(#[$meta:meta])* $name:ident { $($field:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                #[serde(
                    rename = $wire,
                    default,
                    deserialize_with = "crate::wire::opt_string",
                    skip_serializing_if = "Option::is_none"
                )]
                pub $field: Option<String>,
            )+
        }

        impl crate::wire::WireFields for $name {
            fn wire(&self, key: &str) -> Option<&str> {
                match key {
                    $( $wire => self.$field.as_deref(), )+
                    _ => None,
                }
            }

            fn set_secure_hash(&mut self, hash: String) {
                self.secure_hash = Some(hash);
            }
        }
    };
}
pub(crate) use wire_body;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_string")]
        v: Option<String>,
    }

    fn probe(json: &str) -> Option<String> {
        serde_json::from_str::<Probe>(json).ok().and_then(|p| p.v)
    }

    #[test]
    fn numbers_and_strings_both_become_their_decimal_string() {
        assert_eq!(probe(r#"{"v":1000000}"#).as_deref(), Some("1000000"));
        assert_eq!(probe(r#"{"v":"1000000"}"#).as_deref(), Some("1000000"));
        assert_eq!(probe(r#"{"v":null}"#), None);
        assert_eq!(probe(r#"{}"#), None);
    }
}
