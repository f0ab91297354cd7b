//! Request paths made comparable, and path globs compiled to match them.
//!
//! A raw path is turned into segments in up to eight *views*, because back ends disagree on
//! what some bytes mean:
//!
//! - the **literal** view splits at literal `/` only. Every escape is decoded except `%2F`
//!   (`/`), `%5C` (`\`) and `%25` (`%`), which stay escaped inside their segment.
//! - with **slash escapes**, `%2F` separates segments too (servers that decode before
//!   splitting);
//! - with **backslashes**, `\` and `%5C` separate segments too (Windows servers);
//! - with **parameters dropped**, `;params` up to the next literal `/` are removed before
//!   decoding (Tomcat and Jetty read `/a;x/b` as `/a/b`, and `/public/..;/admin` as `/admin`);
//! - and every combination of the three, for the paths that hold those characters.
//!
//! In every view empty segments (`//`) and `.` are dropped and `..` removes the segment
//! before it, so `/admin/../admin` is `/admin`. Paths that cannot be read safely — a bad escape, a control character, bytes that are
//! not UTF-8 once decoded, a `..` above the root, a double-encoded escape — are refused
//! ([`PathProblem`]).

use std::fmt;

/// Why a request path cannot be matched safely; the authorizer denies such requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A control character (`%00`, `%0A`, …), raw or escaped.
    ControlChar,
    /// The decoded bytes are not UTF-8 (overlong encodings and the like).
    NotUtf8,
    /// A `..` segment that climbs above `/`.
    AboveRoot,
    /// `%25` followed by two hex digits (`%252e`): a back end that decodes twice would see an
    /// escape the rules never saw.
    DoubleEncoded,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::BadEscape => "a `%` not followed by two hex digits",
            PathProblem::ControlChar => "a control character",
            PathProblem::NotUtf8 => "bytes that are not UTF-8 once decoded",
            PathProblem::AboveRoot => "a `..` above the root",
            PathProblem::DoubleEncoded => "a double-encoded escape (`%25` and two hex digits)",
        })
    }
}

/// How a path is split into segments (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    /// `%2F` separates segments too.
    pub(crate) slash_escapes: bool,
    /// `\` and `%5C` separate segments too.
    pub(crate) backslashes: bool,
    /// `;params` are dropped up to the next literal `/`.
    pub(crate) drop_params: bool,
}

impl View {
    /// Only literal `/` separates; nothing is dropped.
    pub(crate) const LITERAL: View = View {
        slash_escapes: false,
        backslashes: false,
        drop_params: false,
    };

    /// The views other than [`LITERAL`](Self::LITERAL) that can read `raw` differently.
    pub(crate) fn others(raw: &[u8]) -> impl Iterator<Item = View> {
        let (mut slash, mut back, mut params) = (false, false, false);
        for (i, &b) in raw.iter().enumerate() {
            match b {
                b'\\' => back = true,
                b';' => params = true,
                b'%' => match (raw.get(i + 1), raw.get(i + 2)) {
                    (Some(b'2'), Some(b'f' | b'F')) => slash = true,
                    (Some(b'5'), Some(b'c' | b'C')) => back = true,
                    _ => {}
                },
                _ => {}
            }
        }
        (1u8..8).filter_map(move |bits| {
            let v = View {
                slash_escapes: bits & 1 != 0,
                backslashes: bits & 2 != 0,
                drop_params: bits & 4 != 0,
            };
            ((!v.slash_escapes || slash) && (!v.backslashes || back) && (!v.drop_params || params))
                .then_some(v)
        })
    }
}

const INLINE: usize = 24;

/// The segments of one path: inline up to 24, so matching a usual path allocates nothing.
pub(crate) struct Segments<'p> {
    inline: [&'p [u8]; INLINE],
    len: usize,
    spill: Vec<&'p [u8]>,
}

impl<'p> Segments<'p> {
    pub(crate) fn new() -> Self {
        Segments {
            inline: [&[]; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, s: &'p [u8]) {
        if !self.spill.is_empty() {
            self.spill.push(s);
        } else if self.len < INLINE {
            self.inline[self.len] = s;
            self.len += 1;
        } else {
            self.spill.extend_from_slice(&self.inline);
            self.spill.push(s);
        }
    }

    fn pop(&mut self) -> bool {
        if !self.spill.is_empty() {
            self.spill.pop();
            if self.spill.len() <= INLINE {
                self.len = self.spill.len();
                self.inline[..self.len].copy_from_slice(&self.spill);
                self.spill.clear();
            }
            true
        } else if self.len > 0 {
            self.len -= 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn as_slice(&self) -> &[&'p [u8]] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Decodes `raw` for `view` into `out`.
fn decode(raw: &[u8], view: View, out: &mut Vec<u8>) -> Result<(), PathProblem> {
    out.reserve(raw.len());
    let mut in_params = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if view.drop_params && (in_params || b == b';') {
            in_params = b != b'/';
            if b == b'/' {
                out.push(b'/');
            }
            i += 1;
            continue;
        }
        if b != b'%' {
            if is_control(b) {
                return Err(PathProblem::ControlChar);
            }
            out.push(if view.backslashes && b == b'\\' {
                b'/'
            } else {
                b
            });
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathProblem::BadEscape);
        };
        let v = h << 4 | l;
        i += 3;
        match v {
            _ if is_control(v) => return Err(PathProblem::ControlChar),
            // Kept escaped in every view; refused below when a second decoding would make an
            // escape.
            b'%' => out.extend_from_slice(b"%25"),
            b'/' if !view.slash_escapes => out.extend_from_slice(b"%2F"),
            b'\\' if !view.backslashes => out.extend_from_slice(b"%5C"),
            b'\\' => out.push(b'/'),
            _ => out.push(v),
        }
    }
    // Every `%25` in `out` stands for a decoded `%` (a raw `%` always starts an escape).
    if out
        .windows(5)
        .any(|w| w.starts_with(b"%25") && hex(w[3]).is_some() && hex(w[4]).is_some())
    {
        return Err(PathProblem::DoubleEncoded);
    }
    if out.iter().any(|&b| b >= 0x80) && std::str::from_utf8(out).is_err() {
        return Err(PathProblem::NotUtf8);
    }
    Ok(())
}

/// Splits `raw` into the segments of `view`, decoding into `buf` when it holds escapes.
pub(crate) fn segments<'p>(
    raw: &'p [u8],
    view: View,
    buf: &'p mut Vec<u8>,
    out: &mut Segments<'p>,
) -> Result<(), PathProblem> {
    let needs_decoding = raw
        .iter()
        .any(|&b| b == b'%' || (view.backslashes && b == b'\\') || (view.drop_params && b == b';'));
    let bytes: &'p [u8] = if needs_decoding {
        decode(raw, view, buf)?;
        buf
    } else {
        if raw.iter().any(|&b| is_control(b)) {
            return Err(PathProblem::ControlChar);
        }
        raw
    };
    for seg in bytes.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if !out.pop() {
                    return Err(PathProblem::AboveRoot);
                }
            }
            s => out.push(s),
        }
    }
    Ok(())
}

/// One segment of a path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegPat {
    /// Exactly these bytes.
    Literal(Box<[u8]>),
    /// `*`: any one segment.
    Any,
    /// A segment with `*`s inside (`*.css`, `v*-beta`): the literal parts between them.
    Glob(Box<[Box<[u8]>]>),
    /// `**`: any number of segments, none included.
    Rest,
}

impl SegPat {
    fn matches(&self, seg: &[u8]) -> bool {
        match self {
            SegPat::Literal(l) => **l == *seg,
            SegPat::Any => true,
            SegPat::Glob(parts) => glob_matches(parts, seg),
            SegPat::Rest => false,
        }
    }
}

/// `parts` are the pieces between `*`s: the first must start `seg`, the last must end it,
/// the others must appear in order between (leftmost placement is always right).
fn glob_matches(parts: &[Box<[u8]>], seg: &[u8]) -> bool {
    let (first, last) = (&parts[0], &parts[parts.len() - 1]);
    if seg.len() < first.len() + last.len() || !seg.starts_with(first) || !seg.ends_with(last) {
        return false;
    }
    let mut rest = &seg[first.len()..seg.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.windows(part.len()).position(|w| w == &**part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Why a path glob in a rule is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternProblem {
    /// It does not start with `/`.
    NotAbsolute,
    /// `**` next to other characters in one segment.
    DoubleStarInSegment,
    /// An empty segment (`//`).
    EmptySegment,
    /// A `.` or `..` segment (request paths are normalised first, so it could never match).
    DotSegment,
    /// `?` or `#`: the query and fragment are not matched.
    QueryOrFragment,
    /// A `\` (ambiguous: some back ends read it as `/`).
    Backslash,
    /// A bad escape, a control character or non-UTF-8 once decoded.
    Unreadable(PathProblem),
}

impl fmt::Display for PatternProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternProblem::NotAbsolute => f.write_str("the path must start with `/`"),
            PatternProblem::DoubleStarInSegment => {
                f.write_str("`**` must be a whole path segment (`/a/**`, not `/a**`)")
            }
            PatternProblem::EmptySegment => f.write_str("empty path segment (`//`)"),
            PatternProblem::DotSegment => {
                f.write_str("`.` and `..` segments never match: request paths are normalised first")
            }
            PatternProblem::QueryOrFragment => {
                f.write_str("`?` and `#` cannot be matched: rules see the path only")
            }
            PatternProblem::Backslash => {
                f.write_str("`\\` is ambiguous (some servers read it as `/`)")
            }
            PatternProblem::Unreadable(p) => write!(f, "the path holds {p}"),
        }
    }
}

/// A compiled path glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathGlob {
    segs: Box<[SegPat]>,
}

impl PathGlob {
    /// Compiles a glob such as `/admin/**` or `/static/*.css`. Escapes are decoded as the
    /// literal view decodes request paths; a trailing `/` is not significant.
    pub(crate) fn compile(text: &str) -> Result<PathGlob, PatternProblem> {
        let raw = text.as_bytes();
        if raw.first() != Some(&b'/') {
            return Err(PatternProblem::NotAbsolute);
        }
        if raw.iter().any(|&b| b == b'?' || b == b'#') {
            return Err(PatternProblem::QueryOrFragment);
        }
        if raw.contains(&b'\\') {
            return Err(PatternProblem::Backslash);
        }
        let mut buf = Vec::new();
        decode(raw, View::LITERAL, &mut buf).map_err(PatternProblem::Unreadable)?;
        let body = buf.strip_suffix(b"/").unwrap_or(&buf);
        let mut segs: Vec<SegPat> = Vec::new();
        if body.len() > 1 || (body.len() == 1 && body[0] != b'/') {
            for seg in body[1..].split(|&b| b == b'/') {
                let pat = match seg {
                    b"" => return Err(PatternProblem::EmptySegment),
                    b"." | b".." => return Err(PatternProblem::DotSegment),
                    b"**" => SegPat::Rest,
                    b"*" => SegPat::Any,
                    s if s.windows(2).any(|w| w == b"**") => {
                        return Err(PatternProblem::DoubleStarInSegment)
                    }
                    s if s.contains(&b'*') => SegPat::Glob(
                        s.split(|&b| b == b'*')
                            .map(|p| p.to_vec().into_boxed_slice())
                            .collect(),
                    ),
                    s => SegPat::Literal(s.to_vec().into_boxed_slice()),
                };
                // `/**/**` is `/**`.
                if pat == SegPat::Rest && segs.last() == Some(&SegPat::Rest) {
                    continue;
                }
                segs.push(pat);
            }
        }
        Ok(PathGlob {
            segs: segs.into_boxed_slice(),
        })
    }

    /// The first segment when it is a literal (for [`RuleSet`](super::RuleSet)'s pre-check).
    pub(crate) fn first_literal(&self) -> Option<&[u8]> {
        match self.segs.first() {
            Some(SegPat::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// `true` when the segments match. Wildcard matching with one backtrack point (the last
    /// `**`), so it runs in O(segments × pattern) whatever the input.
    pub(crate) fn matches(&self, segs: &[&[u8]]) -> bool {
        let pats = &self.segs[..];
        let (mut p, mut s) = (0, 0);
        let mut back: Option<(usize, usize)> = None;
        while s < segs.len() {
            if p < pats.len() {
                if pats[p] == SegPat::Rest {
                    back = Some((p, s));
                    p += 1;
                    continue;
                }
                if pats[p].matches(segs[s]) {
                    p += 1;
                    s += 1;
                    continue;
                }
            }
            match back {
                Some((bp, bs)) => {
                    p = bp + 1;
                    s = bs + 1;
                    back = Some((bp, bs + 1));
                }
                None => return false,
            }
        }
        pats[p..].iter().all(|x| *x == SegPat::Rest)
    }
}
