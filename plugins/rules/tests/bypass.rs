//! Generated tricky paths against independent readings of them, as different back ends read
//! paths: whenever the rules let an anonymous request through (only `/public/**` does), every
//! reading must put the path under `/public`. A failure here is a way around `/admin/**`.

use rewho_plugin_rules::engine::{Effect, RuleSet, Subject, Target};

/// Decodes every `%XX` once; `None` for a bad escape (a server answers 400).
fn decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Drops empty and `.` segments and resolves `..`; `None` above the root.
fn resolve(segs: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for s in segs {
        match s.as_slice() {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            _ => out.push(s),
        }
    }
    Some(out)
}

fn split(bytes: &[u8], seps: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| seps.contains(b))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The ways back ends read a path.
fn readings(raw: &[u8]) -> Vec<(&'static str, Option<Vec<Vec<u8>>>)> {
    let strip = |s: &[u8]| s.split(|&b| b == b';').next().unwrap_or(s).to_vec();
    vec![
        // Decode, then split at `/` (most servers and frameworks).
        (
            "decode-then-split",
            decode(raw).and_then(|d| resolve(split(&d, b"/"))),
        ),
        // Decode, then `/` and `\` both separate (Windows-style).
        (
            "backslash",
            decode(raw).and_then(|d| resolve(split(&d, b"/\\"))),
        ),
        // Split at raw `/`, decode each segment (routers on the raw path).
        (
            "split-then-decode",
            split(raw, b"/")
                .into_iter()
                .map(|s| decode(&s))
                .collect::<Option<Vec<_>>>()
                .and_then(resolve),
        ),
        // Tomcat: `;params` dropped per raw segment, then decoded.
        (
            "matrix-params",
            split(raw, b"/")
                .into_iter()
                .map(|s| decode(&strip(&s)))
                .collect::<Option<Vec<_>>>()
                .and_then(resolve),
        ),
        // A broken back end that decodes twice.
        (
            "double-decode",
            decode(raw)
                .and_then(|d| decode(&d))
                .and_then(|d| resolve(split(&d, b"/"))),
        ),
    ]
}

/// xorshift64*: deterministic, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn no_reading_of_an_allowed_path_leaves_public() {
    const PIECES: &[&str] = &[
        "/", "//", "public", "admin", "..", ".", "%2e%2e", "%2E", "%2e", "%2f", "%2F", "%5c", "\\",
        ";", ";x", "..;", "%3b", "%61dmin", "%25", "%252e", "%252f", "x", "%", "%00", "%c0%ae",
        "publi", "c", "ad", "min",
    ];
    let set =
        RuleSet::compile("/admin/** group:admins\n/public/** anyone\n/** authenticated").unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut allowed, mut failures) = (0, Vec::new());
    for _ in 0..60_000 {
        // Half start inside `/public`, where the tricks have something to escape from.
        let mut path = String::from(if rng.next() & 1 == 0 { "/public/" } else { "/" });
        for _ in 0..1 + rng.next() % 9 {
            path.push_str(PIECES[(rng.next() % PIECES.len() as u64) as usize]);
        }
        let v = set.evaluate(&Subject::ANONYMOUS, &Target::new("GET", "h", &path));
        if v.effect != Effect::Allow {
            continue;
        }
        allowed += 1;
        for (name, reading) in readings(path.as_bytes()) {
            if let Some(segs) = reading {
                if segs.first().map(Vec::as_slice) != Some(b"public".as_slice()) {
                    failures.push(format!("{path:?} allowed, but {name} reads {segs:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "\n{}",
        failures[..failures.len().min(20)].join("\n")
    );
    assert!(
        allowed > 1000,
        "only {allowed} allowed paths: the generator is too narrow"
    );
}
