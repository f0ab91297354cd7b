//! Structured identity values.
//!
//! repoze.who identities are Python dicts whose values may be nested (SSO attributes are lists
//! and maps). [`Value`] is the FFI-safe equivalent; [`Map`] keeps insertion order and is a small
//! vector because identities hold a handful of keys and a linear scan beats hashing there.

use std::fmt;

use abi_stable::{
    std_types::{RCowStr, RStr, RString, RVec},
    StableAbi,
};

/// The key under which the authenticated user id is stored, as in repoze.who.
pub const USERID_KEY: &str = "repoze.who.userid";
/// The key naming the identifier that produced an authenticated identity.
pub const IDENTIFIER_KEY: &str = "identifier";
/// The key naming the authenticator that accepted an identity.
pub const AUTHENTICATOR_KEY: &str = "authenticator";

/// One structured value: what a Python identity dict may hold, minus objects.
///
/// It round-trips through JSON (`serde`), which is how caches store identities.
#[repr(C, u8)]
#[derive(StableAbi, Clone, PartialEq)]
pub enum Value {
    /// Python's `None` / JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer (user ids may be integers, and `0` is a valid one).
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// A UTF-8 string.
    Str(RString),
    /// An ordered list.
    List(RVec<Value>),
    /// A nested mapping.
    Map(Map),
}

impl Value {
    /// The string inside, when this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer inside, when this is a [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean inside, when this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The list inside, when this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l.as_slice()),
            _ => None,
        }
    }

    /// The map inside, when this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Renders a scalar the way `str()` would in Python (used for `REMOTE_USER`).
    ///
    /// Lists and maps render as JSON-like text; user ids are scalars in practice.
    pub fn to_display_string(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{:?}", s.as_str()),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, e) in m.entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{:?}: {}", e.key.as_str(), e.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Values are shown only by kind in `Debug`: identities carry passwords and tokens, and
/// `Debug` output ends up in logs. Use `Display` (or [`Value::as_str`]) deliberately.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Float(x) => write!(f, "Float({x})"),
            Value::Str(_) => f.write_str("Str(<hidden>)"),
            Value::List(l) => write!(f, "List(<{} items>)", l.len()),
            Value::Map(m) => fmt::Debug::fmt(m, f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(RString::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(RString::from(s))
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

/// A [`Map`] key: a string literal borrowed for the life of the process, or an owned copy.
///
/// Identities and the environ are built again on every request with the same few literal
/// keys (`repoze.who.userid`, `tokens`, `AUTH_TYPE`, …). Borrowing the literal instead of
/// copying it saves an allocation and a free per key, about a tenth of an auth_tkt check.
/// Borrowing is sound because the host never unloads a plugin library, so the literals in it
/// outlive every map. Any other `&str` is copied: `Key::from(&name)` or `name.to_owned()`.
#[repr(transparent)]
#[derive(StableAbi, Clone)]
pub struct Key(RCowStr<'static>);

impl Key {
    /// Borrows a literal: no allocation, now or when the map is cloned.
    pub const fn from_static(key: &'static str) -> Key {
        Key(RCowStr::Borrowed(RStr::from_str(key)))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for Key {
    fn from(key: &'static str) -> Key {
        Key::from_static(key)
    }
}

impl From<String> for Key {
    fn from(key: String) -> Key {
        Key(RCowStr::Owned(key.into()))
    }
}

impl From<RString> for Key {
    fn from(key: RString) -> Key {
        Key(RCowStr::Owned(key))
    }
}

impl From<&String> for Key {
    fn from(key: &String) -> Key {
        Key(RCowStr::Owned(key.as_str().into()))
    }
}

impl From<&RString> for Key {
    fn from(key: &RString) -> Key {
        Key(RCowStr::Owned(key.clone()))
    }
}

/// One key of a [`Map`].
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: Key,
    /// Its value.
    pub value: Value,
}

/// An insertion-ordered string-keyed map: identities, the per-request environ, nested metadata.
///
/// `Debug` shows keys and only the user id's value, the way repoze.who's `Identity.__repr__`
/// hides its contents: passwords and tokens must never reach a log line by accident.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Default)]
pub struct Map {
    entries: RVec<Entry>,
}

/// An identity: what identifiers extract and authenticators accept. See [`Map`].
pub type Identity = Map;

impl Map {
    /// An empty map; does not allocate.
    pub const fn new() -> Self {
        Map {
            entries: RVec::new(),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|e| e.key.as_str() == key)
            .map(|e| &e.value)
    }

    /// Mutable access to the value stored under `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|e| e.key.as_str() == key)
            .map(|e| &mut e.value)
    }

    /// The string stored under `key`, if it is one.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// `true` when `key` is present (even with a `Null` value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// An empty map with room for `capacity` keys: identities grow by a few keys in the host
    /// (user id, identifier, authenticator), so reserving avoids regrowing on the hot path.
    pub fn with_capacity(capacity: usize) -> Self {
        Map {
            entries: RVec::with_capacity(capacity),
        }
    }

    /// Sets `key` to `value`, keeping the key's position if it already exists (the key is only
    /// copied when it is new). Returns the previous value.
    ///
    /// A literal key is borrowed, any other is owned (see [`Key`]).
    pub fn insert<K>(&mut self, key: K, value: impl Into<Value>) -> Option<Value>
    where
        K: AsRef<str> + Into<Key>,
    {
        let value = value.into();
        if let Some(slot) = self.get_mut(key.as_ref()) {
            return Some(std::mem::replace(slot, value));
        }
        if self.entries.capacity() == 0 {
            // An empty `RVec` grows through its creator's vtable, which converts it to a
            // `Vec` and back: a fresh one with room for a few keys costs a third of that.
            self.entries = RVec::with_capacity(4);
        }
        self.entries.push(Entry {
            key: key.into(),
            value,
        });
        None
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let idx = self.entries.iter().position(|e| e.key.as_str() == key)?;
        Some(self.entries.remove(idx).value)
    }

    /// Iterates over `(key, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|e| (e.key.as_str(), &e.value))
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }

    /// Copies every key of `other` into `self` (later keys win), like `dict.update`.
    pub fn update(&mut self, other: &Map) {
        for e in other.entries.iter() {
            self.insert(e.key.clone(), e.value.clone());
        }
    }

    /// The authenticated user id (`repoze.who.userid`), if set.
    pub fn userid(&self) -> Option<&Value> {
        self.get(USERID_KEY)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for e in self.entries.iter() {
            match e.key.as_str() {
                USERID_KEY | IDENTIFIER_KEY | AUTHENTICATOR_KEY => {
                    m.entry(&e.key.as_str(), &format_args!("{}", e.value))
                }
                _ => m.entry(&e.key.as_str(), &e.value),
            };
        }
        m.finish()
    }
}

impl<K: AsRef<str> + Into<Key>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

mod serde_impls {
    use super::{Map, Value};
    use abi_stable::std_types::{RString, RVec};
    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::fmt;

    impl Serialize for Value {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Int(i) => s.serialize_i64(*i),
                Value::Float(x) => s.serialize_f64(*x),
                Value::Str(v) => s.serialize_str(v.as_str()),
                Value::List(l) => {
                    let mut seq = s.serialize_seq(Some(l.len()))?;
                    for v in l.iter() {
                        seq.serialize_element(v)?;
                    }
                    seq.end()
                }
                Value::Map(m) => m.serialize(s),
            }
        }
    }

    impl Serialize for Map {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.len()))?;
            for (k, v) in self.iter() {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    struct ValueVisitor;

    impl<'de> Visitor<'de> for ValueVisitor {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            Value::deserialize(d)
        }
        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }
        fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
            Ok(Value::Int(i))
        }
        fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
            match i64::try_from(u) {
                Ok(i) => Ok(Value::Int(i)),
                Err(_) => Ok(Value::Float(u as f64)),
            }
        }
        fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
            Ok(Value::Float(x))
        }
        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::Str(RString::from(s)))
        }
        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::Str(RString::from(s)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = RVec::new();
            while let Some(v) = seq.next_element::<Value>()? {
                out.push(v);
            }
            Ok(Value::List(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
            MapVisitor.visit_map(access).map(Value::Map)
        }
    }

    struct MapVisitor;

    impl<'de> Visitor<'de> for MapVisitor {
        type Value = Map;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
            let mut m = Map::new();
            while let Some((k, v)) = access.next_entry::<String, Value>()? {
                m.insert(k, v);
            }
            Ok(m)
        }
    }

    impl<'de> Deserialize<'de> for Value {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
            d.deserialize_any(ValueVisitor)
        }
    }

    impl<'de> Deserialize<'de> for Map {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
            d.deserialize_map(MapVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_nesting_and_order() {
        let mut attrs = Map::new();
        attrs.insert("groups", vec!["admin", "staff"]);
        attrs.insert("mail", "a@example.org");
        let mut id = Map::new();
        id.insert(USERID_KEY, 0i64);
        id.insert("attributes", attrs);
        id.insert("flag", true);
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(
            text,
            r#"{"repoze.who.userid":0,"attributes":{"groups":["admin","staff"],"mail":"a@example.org"},"flag":true}"#
        );
        let back: Map = serde_json::from_str(&text).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn debug_hides_secrets_but_shows_userid() {
        let mut id = Map::new();
        id.insert("login", "alice");
        id.insert("password", "hunter2");
        id.insert(USERID_KEY, "alice");
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("password"));
        assert!(dbg.contains("\"alice\""), "{dbg}");
    }

    #[test]
    fn literal_keys_are_borrowed_and_others_copied() {
        const LITERAL: &str = "tokens";
        let mut m = Map::new();
        m.insert(LITERAL, 1i64);
        let name = String::from("mail");
        m.insert(&name, 2i64);
        let keys: Vec<&str> = m.keys().collect();
        assert_eq!(keys, ["tokens", "mail"]);
        // The literal's own bytes, not a copy; a clone of the map borrows it too.
        assert_eq!(keys[0].as_ptr(), LITERAL.as_ptr());
        let copy = m.clone();
        assert_eq!(copy.keys().next().unwrap().as_ptr(), LITERAL.as_ptr());
        // The `String`'s key is a copy of its own.
        assert_ne!(keys[1].as_ptr(), name.as_ptr());
        // Keys compare by text, however they are held.
        assert_eq!(Key::from("mail"), Key::from(name.clone()));
        assert_eq!(m.get("mail"), Some(&Value::Int(2)));
        assert_eq!(m, copy);
        // Replacing a value keeps the key it had: a `String` key is not copied then.
        m.insert(String::from("tokens"), 3i64);
        assert_eq!(m.keys().next().unwrap().as_ptr(), LITERAL.as_ptr());
        assert_eq!(m.get("tokens"), Some(&Value::Int(3)));
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = Map::new();
        m.insert("a", 1i64);
        m.insert("b", 2i64);
        assert_eq!(m.insert("a", 3i64), Some(Value::Int(1)));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.remove("a"), Some(Value::Int(3)));
        assert_eq!(m.len(), 1);
    }
}
