//! The host's side of the request and environ objects: plain structs that implement
//! [`RequestAbi`] and [`EnvironAbi`], and lend the SDK views of themselves.
//!
//! The host builds these for every request; plugin authors use them only in unit tests (a
//! plugin in production always talks to the host's copy, through the vtable, so the host
//! decides what the environ means).

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{ROption, RStr, RString, RVec},
};

use crate::abi::{
    EnvironAbi, EnvironAbi_TO, Extension, Header, HeaderEdit, RequestAbi, RequestAbi_TO, Response,
};
use crate::request::{find_cookie, Environ, Request};
use crate::value::{Key, Map, Value};

/// The parts of a request, borrowed from wherever the host keeps them.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` header value.
    pub host: &'a str,
    /// The path, percent-encoded.
    pub path: &'a str,
    /// The query string without `?`.
    pub query: &'a str,
    /// The TCP peer's address without port.
    pub peer_addr: &'a str,
    /// The derived client address without port.
    pub client_addr: &'a str,
    /// The headers in arrival order.
    pub headers: &'a [Header<'a>],
}

impl<'a> RequestParts<'a> {
    /// Lends the SDK view of these parts.
    pub fn view(&self) -> Request<'_> {
        Request::from_abi(RequestAbi_TO::from_ptr(self, TD_Opaque))
    }
}

impl RequestAbi for RequestParts<'_> {
    fn method(&self) -> RStr<'_> {
        RStr::from_str(self.method)
    }
    fn scheme(&self) -> RStr<'_> {
        RStr::from_str(self.scheme)
    }
    fn host(&self) -> RStr<'_> {
        RStr::from_str(self.host)
    }
    fn path(&self) -> RStr<'_> {
        RStr::from_str(self.path)
    }
    fn query(&self) -> RStr<'_> {
        RStr::from_str(self.query)
    }
    fn peer_addr(&self) -> RStr<'_> {
        RStr::from_str(self.peer_addr)
    }
    fn client_addr(&self) -> RStr<'_> {
        RStr::from_str(self.client_addr)
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header_at(&self, index: usize) -> ROption<Header<'_>> {
        self.headers.get(index).copied().into()
    }
    fn header(&self, name: RStr<'_>) -> ROption<RStr<'_>> {
        let name = name.as_str();
        self.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .into()
    }
    fn cookie(&self, name: RStr<'_>) -> ROption<RStr<'_>> {
        let cookies = self
            .headers
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case("cookie"))
            .map(|h| h.value.as_str());
        find_cookie(cookies, name.as_str())
            .map(RStr::from_str)
            .into()
    }
    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        ROption::RNone
    }
}

/// The per-request environ the host keeps: extra values, downstream edits, a response.
#[derive(Clone, Debug, Default)]
pub struct EnvironState {
    values: Map,
    downstream: Vec<HeaderEdit>,
    response: Option<Response>,
}

impl EnvironState {
    /// An empty environ; does not allocate.
    pub const fn new() -> Self {
        EnvironState {
            values: Map::new(),
            downstream: Vec::new(),
            response: None,
        }
    }

    /// Lends the SDK view plugins get.
    pub fn view(&mut self) -> Environ<'_> {
        Environ::from_abi(EnvironAbi_TO::from_ptr(self, TD_Opaque))
    }

    /// The extra value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The extra value under `key`, when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.values.get_str(key)
    }

    /// Stores an extra value.
    pub fn set<K: AsRef<str> + Into<Key>>(&mut self, key: K, value: impl Into<Value>) {
        self.values.insert(key, value);
    }

    /// Removes an extra value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    /// All extra values.
    pub fn values(&self) -> &Map {
        &self.values
    }

    /// The downstream header edits, in the order they were made.
    pub fn downstream_edits(&self) -> &[HeaderEdit] {
        &self.downstream
    }

    /// Replaces the application's response.
    pub fn replace_response(&mut self, response: Response) {
        self.response = Some(response);
    }

    /// The replacement response, if a plugin set one.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_ref()
    }

    /// Takes the replacement response out.
    pub fn take_response(&mut self) -> Option<Response> {
        self.response.take()
    }
}

impl EnvironAbi for EnvironState {
    fn get(&self, key: RStr<'_>) -> ROption<&Value> {
        self.values.get(key.as_str()).into()
    }
    fn set(&mut self, key: Key, value: Value) {
        self.values.insert(key, value);
    }
    fn remove(&mut self, key: RStr<'_>) -> ROption<Value> {
        self.values.remove(key.as_str()).into()
    }
    fn values(&self) -> &Map {
        &self.values
    }
    fn edit_downstream(&mut self, name: RString, value: ROption<RString>, always: bool) {
        self.downstream
            .retain(|e| !e.name.as_str().eq_ignore_ascii_case(name.as_str()));
        self.downstream.push(HeaderEdit {
            name,
            value,
            always,
        });
    }
    fn downstream_edits(&self) -> RVec<HeaderEdit> {
        RVec::from(self.downstream.clone())
    }
    fn replace_response(&mut self, response: Response) {
        self.response = Some(response);
    }
    fn response(&self) -> ROption<&Response> {
        self.response.as_ref().into()
    }
    fn take_response(&mut self) -> ROption<Response> {
        self.response.take().into()
    }
    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        ROption::RNone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{headers, request};

    #[test]
    fn cookie_lookup_handles_quotes_and_multiple_headers() {
        let h = headers(&[("Cookie", "a=1; b=2"), ("cookie", "auth_tkt=\"abc!def\"")]);
        let r = request("h", "127.0.0.1", &h);
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("auth_tkt"), Some("abc!def"));
        assert_eq!(r.cookie("zzz"), None);
    }

    #[test]
    fn host_without_port_handles_v6() {
        for (host, want) in [
            ("example.org:8080", "example.org"),
            ("[::1]:8080", "[::1]"),
            ("example.org", "example.org"),
        ] {
            assert_eq!(request(host, "", &[]).host_without_port(), want);
        }
    }

    #[test]
    fn downstream_edits_replace_same_name() {
        let mut state = EnvironState::new();
        {
            let mut env = state.view();
            env.set_downstream_header("Authorization", "Bearer a");
            env.set_downstream_header("authorization", "Bearer b");
            env.remove_downstream_header("X-Remote-User");
        }
        let edits = state.downstream_edits();
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0].value(), Some("Bearer b"));
        assert_eq!(edits[1].value(), None);
    }

    #[test]
    fn request_debug_redacts_header_values() {
        let h = headers(&[
            ("Authorization", "Basic c2VjcmV0"),
            ("Cookie", "auth_tkt=s3cret"),
        ]);
        let shown = format!("{:?}", request("h", "", &h));
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
