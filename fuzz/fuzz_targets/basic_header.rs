//! `Authorization` header values → `parse_basic` and the lenient base64 decoder. Nothing may
//! panic; a decoded pair must come from a `Basic` header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewho_plugin_basicauth::basic::{decode_base64_lenient, parse_basic};

fuzz_target!(|data: &[u8]| {
    if let Some(out) = decode_base64_lenient(data) {
        assert!(out.len() <= data.len() / 4 * 3 + 3);
    }
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if parse_basic(header).is_some() {
        assert!(header.len() >= 6 && header[..6].eq_ignore_ascii_case("basic "));
    }
});
