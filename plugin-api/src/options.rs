//! Plugin options from a `[plugin:ID]` section, deserialised with serde.
//!
//! Every INI value is a string; [`from_options`] parses it into whatever the option struct
//! asks for: `bool` (`true/false`, `yes/no`, `on/off`, `1/0`, as repoze.who's `asbool`),
//! integers, floats, strings, `Option<T>`, and `Vec<T>` (whitespace-separated, so multi-line
//! lists work). Errors name the section and the key, and `#[serde(deny_unknown_fields)]` turns
//! a misspelt option into an error instead of a silent default.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// An option error: the message names the section and the key, and [`option`](Self::option)
/// says which option is at fault, so the host can point at that option's own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    /// The message, naming the section and the key.
    pub message: String,
    /// The option at fault (lower-cased, as written), when there is one.
    pub option: Option<String>,
}

impl OptionsError {
    fn new(message: String) -> Self {
        OptionsError {
            message,
            option: None,
        }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OptionsError {}

impl de::Error for OptionsError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        OptionsError::new(msg.to_string())
    }
}

/// Deserialises `T` from `(key, value)` pairs of the section `[plugin:<plugin_id>]`.
pub fn from_options<'a, T: DeserializeOwned>(
    plugin_id: &str,
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<T, OptionsError> {
    let entries: Vec<(&str, &str)> = options.into_iter().collect();
    let mut access = Entries {
        entries: &entries,
        pos: 0,
        current_key: None,
    };
    T::deserialize(OptionsDeserializer {
        access: &mut access,
    })
    .map_err(|e| {
        let unknown = e.message.starts_with("unknown field");
        match access.current_key {
            Some(key) if !unknown => OptionsError {
                message: format!("[plugin:{plugin_id}] option `{key}`: {}", e.message),
                option: Some(key.to_owned()),
            },
            key => OptionsError {
                message: format!("[plugin:{plugin_id}]: {}", rename_field(&e.message)),
                option: key.filter(|_| unknown).map(str::to_owned),
            },
        }
    })
}

fn rename_field(msg: &str) -> String {
    msg.replace("unknown field", "unknown option")
        .replace("missing field", "missing option")
}

struct Entries<'e, 'a> {
    entries: &'e [(&'a str, &'a str)],
    pos: usize,
    current_key: Option<&'a str>,
}

struct OptionsDeserializer<'x, 'e, 'a> {
    access: &'x mut Entries<'e, 'a>,
}

impl<'de, 'x, 'e, 'a> de::Deserializer<'de> for OptionsDeserializer<'x, 'e, 'a> {
    type Error = OptionsError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
        visitor.visit_map(EntriesAccess { inner: self.access })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct EntriesAccess<'x, 'e, 'a> {
    inner: &'x mut Entries<'e, 'a>,
}

impl<'de, 'x, 'e, 'a> MapAccess<'de> for EntriesAccess<'x, 'e, 'a> {
    type Error = OptionsError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, OptionsError> {
        let Some(&(key, _)) = self.inner.entries.get(self.inner.pos) else {
            self.inner.current_key = None;
            return Ok(None);
        };
        self.inner.current_key = Some(key);
        seed.deserialize(key.to_owned().into_deserializer())
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, OptionsError> {
        let (_, value) = self.inner.entries[self.inner.pos];
        self.inner.pos += 1;
        let out = seed.deserialize(OptionValue(value))?;
        self.inner.current_key = None;
        Ok(out)
    }
}

/// One option value, parsed on demand into the type the option struct asks for.
struct OptionValue<'a>(&'a str);

impl OptionValue<'_> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, OptionsError>
    where
        T::Err: fmt::Display,
    {
        self.0
            .trim()
            .parse()
            .map_err(|e| OptionsError::new(format!("expected {what}, got {:?} ({e})", self.0)))
    }
}

/// Parses a boolean the way repoze.who's `_bool`/paste's `asbool` does.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "off" | "n" | "f" | "0" | "" => Some(false),
        _ => None,
    }
}

macro_rules! parse_num {
    ($($method:ident => $visit:ident : $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
            visitor.$visit(self.parse::<$ty>($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for OptionValue<'_> {
    type Error = OptionsError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
        match parse_bool(self.0) {
            Some(b) => visitor.visit_bool(b),
            None => Err(OptionsError::new(format!(
                "expected a boolean (true/false, yes/no, on/off, 1/0), got {:?}",
                self.0
            ))),
        }
    }

    parse_num! {
        deserialize_i8 => visit_i8: i8, "an integer";
        deserialize_i16 => visit_i16: i16, "an integer";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_u8 => visit_u8: u8, "a non-negative integer";
        deserialize_u16 => visit_u16: u16, "a non-negative integer";
        deserialize_u32 => visit_u32: u32, "a non-negative integer";
        deserialize_u64 => visit_u64: u64, "a non-negative integer";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, OptionsError> {
        visitor.visit_seq(de::value::SeqDeserializer::new(
            self.0.split_whitespace().map(OptionValue),
        ))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, OptionsError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, OptionsError> {
        visitor.visit_enum(self.0.trim().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, OptionsError> for OptionValue<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Opts {
        secret: String,
        #[serde(default)]
        secure: bool,
        timeout: Option<u32>,
        #[serde(default)]
        urls: Vec<String>,
        #[serde(default)]
        algo: Algo,
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "lowercase")]
    enum Algo {
        #[default]
        Md5,
        Sha256,
    }

    #[test]
    fn parses_typed_values() {
        let o: Opts = from_options(
            "t",
            [
                ("secret", "s3"),
                ("secure", "Yes"),
                ("timeout", " 60 "),
                ("urls", "a:1\n  b:2"),
                ("algo", "sha256"),
            ],
        )
        .unwrap();
        assert_eq!(
            o,
            Opts {
                secret: "s3".into(),
                secure: true,
                timeout: Some(60),
                urls: vec!["a:1".into(), "b:2".into()],
                algo: Algo::Sha256
            }
        );
    }

    #[test]
    fn errors_name_section_and_key() {
        let e = from_options::<Opts>("tkt", [("secret", "x"), ("timeout", "soon")]).unwrap_err();
        assert!(
            e.message
                .starts_with("[plugin:tkt] option `timeout`: expected"),
            "{e}"
        );
        assert_eq!(e.option.as_deref(), Some("timeout"));
        let e = from_options::<Opts>("tkt", [("secret", "x"), ("secrett", "y")]).unwrap_err();
        assert!(
            e.message.contains("[plugin:tkt]") && e.message.contains("unknown option `secrett`"),
            "{e}"
        );
        assert_eq!(e.option.as_deref(), Some("secrett"));
        let e = from_options::<Opts>("tkt", [("secure", "1")]).unwrap_err();
        assert_eq!(e.message, "[plugin:tkt]: missing option `secret`");
        assert_eq!(e.option, None);
        let e = from_options::<Opts>("tkt", [("secret", "x"), ("secure", "maybe")]).unwrap_err();
        assert!(
            e.message.contains("option `secure`: expected a boolean"),
            "{e}"
        );
    }
}
