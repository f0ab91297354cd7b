//! who.ini text → `parse_ini` (ConfigParser's reader), every section's interpolated
//! `items()`, and the typed `Config`. Nothing may panic; every error must name a line that
//! exists in the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rewho::config::{parse_ini, Config, DEFAULT_SECTION};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/fuzz/who.ini");
    // Python counts `\n`, `\r\n` and a lone `\r` as line ends; an error line past the last
    // of them would point nowhere.
    let lines = text.split_inclusive(['\n', '\r']).count().max(1) + 1;
    let doc = match parse_ini(text, file) {
        Ok(doc) => doc,
        Err(e) => {
            assert!(e.line <= lines, "error line {} of {lines}: {e}", e.line);
            return;
        }
    };
    for name in std::iter::once(DEFAULT_SECTION).chain(doc.sections.iter().map(|s| s.name.as_str()))
    {
        if let Err(e) = doc.items(name) {
            assert!(e.line <= lines, "error line {} of {lines}: {e}", e.line);
        }
    }
    if let Err(e) = Config::from_document(&doc) {
        assert!(e.line <= lines, "error line {} of {lines}: {e}", e.line);
        // The message is built without panicking, too.
        let _ = e.to_string();
    }
});
