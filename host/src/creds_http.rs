//! The `/_rewho/creds/` endpoints: fixie-creds' HTTP service over a credentials folder,
//! framework-free (a method, a path, headers and a body in; a status and JSON out), plus the
//! `[creds]` section of who.ini that configures them and `rewho creds`.
//!
//! ```ini
//! [creds]
//! enabled = true                     ; default false: every path answers 404
//! credsdir = %(here)s/creds          ; else the `credsdir` of the [plugin:…] with `use = creds`,
//!                                    ; else $REWHO_CREDS_DIR (relative to who.ini's folder)
//! nbytes = 20                        ; token size
//! admin_token_sha256 = 5e88…         ; SHA-256 hex of the admin token, or:
//! ; admin_token_file = /run/secrets/rewho-admin   (the token itself; hashed at start-up)
//! ```
//!
//! # Endpoints
//! Every endpoint takes `POST` with a JSON object and answers JSON. Field rules follow
//! fixie-creds' schemas: `user` and `email` non-empty strings, `token` hex digits; unknown
//! fields are refused. Answers for outcomes are `200`, with fixie-creds' shapes:
//!
//! | path | body | answer |
//! |------|------|--------|
//! | `register` (admin) | `user`, `email` | `{"status":true,"token":T}` or `{"status":false,"token":"<not-a-token>","message":M}` |
//! | `verify` | `user`, `token` | `{"verified":B,"message":M,"status":B}` |
//! | `deregister` (admin) | `user`, `token` | `{"message":M,"status":B}` |
//! | `reset` (admin) | `user`, `email` | as `register` |
//! | `remove` (admin) | `user` | `{"message":M,"status":B}` (rewho's; fixie-creds has none) |
//!
//! `verify` is open to anyone who can reach it, so every failure answers the same
//! ([`VERIFY_FAILED`], `status` true): fixie-creds' "not registered" and "invalid token"
//! messages would tell registered users apart. The others change the folder, so they need
//! `Authorization: Bearer <admin token>`; rewho keeps only the token's SHA-256 and compares
//! digests in constant time. Failures are `{"status":false,"message":M}` with `400` (bad JSON
//! or fields, an invalid user name), `401` (admin token missing or wrong; send
//! [`WWW_AUTHENTICATE`]), `403` (no admin token configured), `404` (disabled, or an unknown
//! path), `405` (not `POST`), `413` (body over [`MAX_BODY`]) and `500` (a corrupt or
//! unreadable user file: logged with its path, never shown to the client).
//!
//! # Serving
//! [`handle`] reads and writes files, so async servers should call it on a blocking thread,
//! and add [`RESPONSE_HEADERS`] to every answer (tokens must not be cached). Tokens are never
//! logged.

/// The one answer of `verify` (HTTP and `rewho creds verify`) to every failure: an unknown
/// user and a wrong token must not be told apart.
pub const VERIFY_FAILED: &str = "Invalid user or token";

use std::fmt;
use std::path::{Path, PathBuf};

use rewho_plugin_creds::store::{
    creds_dir_from_env, CredsStore, StoreError, StoreOptions, DEFAULT_NBYTES,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{read_ini, IniDocument, DEFAULT_SECTION};

/// The path prefix of the endpoints.
pub const PREFIX: &str = "/_rewho/creds/";

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 16 * 1024;

/// Headers every answer should carry.
pub const RESPONSE_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];

/// The `WWW-Authenticate` value to send with a 401 answer.
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"rewho creds\"";

/// The options of `[creds]` this module knows.
const KNOWN_OPTIONS: [&str; 5] = [
    "enabled",
    "credsdir",
    "nbytes",
    "admin_token_sha256",
    "admin_token_file",
];

/// A `[creds]` section that cannot be used, with the file and line at fault.
#[derive(Debug)]
pub struct CredsConfigError {
    file: PathBuf,
    line: Option<usize>,
    message: String,
}

impl CredsConfigError {
    fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        CredsConfigError {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// The config file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The line at fault, when one is.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for CredsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: [creds] {}", self.file.display(), self.message),
            None => write!(f, "{}: [creds] {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for CredsConfigError {}

/// The `[creds]` section as written (checked, nothing opened or read yet).
#[derive(Clone, PartialEq, Eq)]
pub struct CredsSection {
    /// `enabled`: serve the endpoints.
    pub enabled: bool,
    /// `credsdir` (absolute), else the `creds` plugin's, else `None` (`$REWHO_CREDS_DIR`).
    pub credsdir: Option<PathBuf>,
    /// `nbytes`, else the `creds` plugin's, else 20.
    pub nbytes: usize,
    /// `admin_token_sha256`, decoded.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// `admin_token_file` (absolute).
    pub admin_token_file: Option<PathBuf>,
}

impl fmt::Debug for CredsSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredsSection")
            .field("enabled", &self.enabled)
            .field("credsdir", &self.credsdir)
            .field("nbytes", &self.nbytes)
            .field(
                "admin_token_sha256",
                &self.admin_token_sha256.map(|_| "<set>"),
            )
            .field("admin_token_file", &self.admin_token_file)
            .finish()
    }
}

impl CredsSection {
    /// Reads `[creds]` from a parsed who.ini. A missing section reads as the defaults
    /// (disabled), still picking up the `creds` plugin's `credsdir` and `nbytes`.
    pub fn from_document(doc: &IniDocument) -> Result<CredsSection, CredsConfigError> {
        let file = doc.file.as_path();
        let err = |line, m: String| CredsConfigError::new(file, line, m);
        let line_of = |key: &str| doc.entry("creds", key).map(|e| e.line);
        if let Some(section) = doc.section("creds") {
            if let Some(e) = section
                .entries
                .iter()
                .find(|e| !KNOWN_OPTIONS.contains(&e.key.as_str()))
            {
                return Err(err(
                    Some(e.line),
                    format!(
                        "unknown option `{}` (known: {})",
                        e.key,
                        KNOWN_OPTIONS.join(", ")
                    ),
                ));
            }
        }
        // Only the section's own options (a [DEFAULT] option is not meant for us).
        let own = |key: &str| -> Result<Option<String>, CredsConfigError> {
            let is_own = doc
                .section("creds")
                .is_some_and(|s| s.entries.iter().any(|e| e.key == key));
            if !is_own {
                return Ok(None);
            }
            doc.get("creds", key)
                .map_err(|e| err(line_of(key), e.to_string()))
        };
        let here = doc
            .get(DEFAULT_SECTION, "here")
            .ok()
            .flatten()
            .map(PathBuf::from)
            .unwrap_or_default();

        let enabled = match own("enabled")? {
            None => false,
            Some(v) => rewho_plugin_api::parse_bool(&v).ok_or_else(|| {
                err(
                    line_of("enabled"),
                    format!("`enabled` must be true or false, not {v:?}"),
                )
            })?,
        };
        let plugin = plugin_section(doc)?;
        let credsdir = match own("credsdir")? {
            Some(d) if d.trim().is_empty() => {
                return Err(err(line_of("credsdir"), "`credsdir` is empty".into()))
            }
            Some(d) => Some(here.join(d.trim())),
            None => plugin.as_ref().and_then(|p| p.credsdir.clone()),
        };
        let nbytes = match own("nbytes")?.or_else(|| plugin.as_ref().and_then(|p| p.nbytes.clone()))
        {
            None => DEFAULT_NBYTES,
            Some(v) => v.trim().parse().map_err(|_| {
                err(
                    line_of("nbytes"),
                    format!("`nbytes` must be a whole number, not {v:?}"),
                )
            })?,
        };
        let admin_token_sha256 = match own("admin_token_sha256")? {
            None => None,
            Some(v) => Some(parse_sha256_hex(v.trim()).ok_or_else(|| {
                err(
                    line_of("admin_token_sha256"),
                    "`admin_token_sha256` must be 64 hex digits (the SHA-256 of the token)".into(),
                )
            })?),
        };
        let admin_token_file = own("admin_token_file")?.map(|f| here.join(f.trim()));
        if admin_token_sha256.is_some() && admin_token_file.is_some() {
            return Err(err(
                line_of("admin_token_file"),
                "set `admin_token_sha256` or `admin_token_file`, not both".into(),
            ));
        }
        Ok(CredsSection {
            enabled,
            credsdir,
            nbytes,
            admin_token_sha256,
            admin_token_file,
        })
    }

    /// [`credsdir`](Self::credsdir), else `$REWHO_CREDS_DIR`.
    pub fn credsdir_or_env(&self) -> Option<PathBuf> {
        self.credsdir.clone().or_else(creds_dir_from_env)
    }
}

/// `credsdir` and `nbytes` of the `[plugin:…]` section with `use = creds`, if there is one.
struct PluginCreds {
    credsdir: Option<PathBuf>,
    nbytes: Option<String>,
}

fn plugin_section(doc: &IniDocument) -> Result<Option<PluginCreds>, CredsConfigError> {
    let mut found: Option<(PluginCreds, usize)> = None;
    for s in doc
        .sections
        .iter()
        .filter(|s| s.name.starts_with("plugin:"))
    {
        let get = |key: &str| doc.get(&s.name, key).ok().flatten();
        let uses_creds = get("use").is_some_and(|u| matches!(u.trim(), "creds" | "creds:creds"));
        if !uses_creds {
            continue;
        }
        let here = get("here").map(PathBuf::from).unwrap_or_default();
        let this = PluginCreds {
            credsdir: get("credsdir").map(|d| here.join(d.trim())),
            nbytes: get("nbytes"),
        };
        if let Some((other, _)) = &found {
            if other.credsdir != this.credsdir {
                return Err(CredsConfigError::new(
                    &doc.file,
                    Some(s.line),
                    format!(
                        "[{}] uses another credentials folder than an earlier `use = creds` \
                         section: set `credsdir` in [creds]",
                        s.name
                    ),
                ));
            }
        }
        found = Some((this, s.line));
    }
    Ok(found.map(|(p, _)| p))
}

fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of an admin token, as `admin_token_sha256` holds it (the token's UTF-8 bytes,
/// as `printf %s "$TOKEN" | sha256sum` computes it).
pub fn admin_token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What [`handle`] needs: the folder (when enabled) and the admin token's digest.
pub struct CredsHttpConfig {
    store: Option<CredsStore>,
    admin_sha256: Option<[u8; 32]>,
}

impl fmt::Debug for CredsHttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredsHttpConfig")
            .field("store", &self.store)
            .field("admin", &self.admin_sha256.map(|_| "<set>"))
            .finish()
    }
}

impl CredsHttpConfig {
    /// Endpoints off: every request answers 404.
    pub fn disabled() -> Self {
        CredsHttpConfig {
            store: None,
            admin_sha256: None,
        }
    }

    /// Endpoints on, over `store`; the mutating ones need the token whose SHA-256 is
    /// `admin_sha256` (`None`: they answer 403).
    pub fn new(store: CredsStore, admin_sha256: Option<[u8; 32]>) -> Self {
        CredsHttpConfig {
            store: Some(store),
            admin_sha256,
        }
    }

    /// Reads who.ini's `[creds]` section (see the module docs).
    pub fn from_config_file(path: &Path) -> Result<Self, CredsConfigError> {
        let doc = read_ini(path).map_err(|e| CredsConfigError::new(path, None, e.to_string()))?;
        Self::from_document(&doc)
    }

    /// Like [`from_config_file`](Self::from_config_file), for a parsed document. When enabled,
    /// the folder must exist and the admin token file be readable and not empty.
    pub fn from_document(doc: &IniDocument) -> Result<Self, CredsConfigError> {
        let section = CredsSection::from_document(doc)?;
        if !section.enabled {
            return Ok(Self::disabled());
        }
        let file = doc.file.as_path();
        let line_of = |key: &str| doc.entry("creds", key).map(|e| e.line);
        let dir = section.credsdir_or_env().ok_or_else(|| {
            CredsConfigError::new(
                file,
                line_of("enabled"),
                "enabled, but no credentials folder: set `credsdir` (or REWHO_CREDS_DIR)",
            )
        })?;
        let options = StoreOptions {
            nbytes: section.nbytes,
            create: false,
        };
        let store = CredsStore::open(dir, options)
            .map_err(|e| CredsConfigError::new(file, line_of("credsdir"), e.to_string()))?;
        let admin = match (&section.admin_token_sha256, &section.admin_token_file) {
            (Some(h), _) => Some(*h),
            (None, Some(path)) => {
                let at = line_of("admin_token_file");
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CredsConfigError::new(file, at, format!("{}: {e}", path.display()))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(CredsConfigError::new(
                        file,
                        at,
                        format!("{}: the admin token file is empty", path.display()),
                    ));
                }
                Some(admin_token_sha256(token))
            }
            (None, None) => None,
        };
        Ok(Self::new(store, admin))
    }

    /// Whether the endpoints answer.
    pub fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// The folder, when enabled.
    pub fn store(&self) -> Option<&CredsStore> {
        self.store.as_ref()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Register,
    Verify,
    Deregister,
    Reset,
    Remove,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "register" => Op::Register,
            "verify" => Op::Verify,
            "deregister" => Op::Deregister,
            "reset" => Op::Reset,
            "remove" => Op::Remove,
            _ => return None,
        })
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Op::Register | Op::Reset => &["user", "email"],
            Op::Verify | Op::Deregister => &["user", "token"],
            Op::Remove => &["user"],
        }
    }
}

fn failure(status: u16, message: &str) -> (u16, String) {
    (
        status,
        json!({"status": false, "message": message}).to_string(),
    )
}

/// Answers one request to `/_rewho/creds/…`: `(status, JSON body)`. See the module docs for
/// the endpoints; `path` may carry a query string, which is ignored.
pub fn handle(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    cfg: &CredsHttpConfig,
) -> (u16, String) {
    let Some(store) = &cfg.store else {
        return failure(404, "not found");
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(op) = path.strip_prefix(PREFIX).and_then(Op::parse) else {
        return failure(404, "not found");
    };
    if method != "POST" {
        return failure(405, "use POST");
    }
    if op != Op::Verify {
        let Some(expected) = &cfg.admin_sha256 else {
            return failure(403, "no admin credential is configured for this endpoint");
        };
        if !bearer_matches(headers, expected) {
            return failure(401, "admin credential required");
        }
    }
    if body.len() > MAX_BODY {
        return failure(413, "request body too large");
    }
    let fields = match parse_fields(body, op) {
        Ok(f) => f,
        Err(m) => return failure(400, &m),
    };
    let f = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default();
    let result = match op {
        Op::Register => store
            .register(f("user"), f("email"))
            .map(|o| match o.token() {
                Some(t) => json!({"status": true, "token": t.as_str()}),
                None => not_a_token(&o.message()),
            }),
        Op::Reset => store.reset(f("user"), f("email")).map(|o| match o.token() {
            Some(t) => json!({"status": true, "token": t.as_str()}),
            None => not_a_token(&o.message()),
        }),
        Op::Verify => store.verify(f("user"), f("token")).map(|o| {
            if o.verified() {
                json!({"verified": true, "message": o.message(), "status": true})
            } else {
                json!({"verified": false, "message": VERIFY_FAILED, "status": true})
            }
        }),
        Op::Deregister => store
            .deregister(f("user"), f("token"))
            .map(|o| json!({"message": o.message(), "status": o.status()})),
        Op::Remove => store
            .remove_user(f("user"))
            .map(|o| json!({"message": o.message(), "status": o.status()})),
    };
    match result {
        Ok(v) => (200, v.to_string()),
        Err(e) => store_failure(&e),
    }
}

fn not_a_token(message: &str) -> Value {
    json!({"token": "<not-a-token>", "status": false, "message": message})
}

fn store_failure(e: &StoreError) -> (u16, String) {
    if e.is_invalid_user() {
        return failure(400, &e.to_string());
    }
    tracing::error!(target: "rewho::creds", "{e}");
    failure(500, "internal error (see the server log)")
}

/// The body as fixie-creds' schemas want it: an object with exactly the operation's fields,
/// all strings; `user`/`email` not empty, `token` hex digits.
fn parse_fields(body: &[u8], op: Op) -> Result<Map<String, Value>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("body must be a JSON object".into());
    };
    let wanted = op.fields();
    if let Some(k) = map.keys().find(|k| !wanted.contains(&k.as_str())) {
        return Err(format!("unknown field `{k}`"));
    }
    for &k in wanted {
        let v = match map.get(k) {
            None => return Err(format!("missing field `{k}`")),
            Some(Value::String(s)) => s,
            Some(_) => return Err(format!("field `{k}` must be a string")),
        };
        if v.is_empty() {
            return Err(format!("field `{k}` must not be empty"));
        }
        if k == "token" && !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("field `token` must be hexadecimal digits".into());
        }
    }
    Ok(map)
}

/// Whether the first `Authorization` header is `Bearer <token>` with the admin token.
fn bearer_matches(headers: &[(String, String)], expected: &[u8; 32]) -> bool {
    let Some((_, value)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    let token = token.trim();
    scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && rewho_plugin_api::constant_time_eq(&admin_token_sha256(token), expected)
}
