//! `creds`: an authenticator for token credentials kept in a fixie-creds folder, and the
//! [`store`] library behind it, `rewho creds` and the `/_rewho/creds/` endpoints.
//!
//! ```ini
//! [plugin:creds]
//! use = creds
//! credsdir = %(here)s/creds     ; else $REWHO_CREDS_DIR; relative to who.ini's folder
//! login_key = login             ; identity keys holding the user name and the token
//! token_key = password          ; (the defaults suit `basicauth`: user name + token)
//! nbytes = 20                   ; token size the folder was written with
//! ```
//!
//! # Behaviour
//! - **authenticate** reads the user name and the token from the identity's `login_key` and
//!   `token_key`, and returns the user name as the user id when the token is the user's.
//!   `Ok(None)` when either key is missing or not a string, the name cannot be a user (see
//!   [`store::validate_user`]), the user is not registered, or the token is wrong.
//! - A corrupt user file is an `Err` naming the file (the host logs it and moves on); other
//!   users' files are unaffected.
//! - Parsed user files are cached in memory and re-read when a file's inode, size or times
//!   change, so `rewho creds reset` (or fixie-creds) takes effect on the next request.
//! - The folder must exist at start-up (a misspelt `credsdir` stops start-up instead of
//!   rejecting everyone); a warning is logged if other users may read it.
//!
//! [`Plugin::DOES_IO`] is `true`: every call `stat`s the user's file.
//!
//! # Linking
//! The crate builds as a `cdylib` (the plugin) and an `rlib` (for the host's CLI and HTTP
//! endpoints). The rlib carries the plugin's root-module symbol too, so a binary may link
//! at most one plugin rlib.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod store;

use std::os::unix::fs::PermissionsExt;

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Identity, Plugin, PluginError, Request, Value,
};
use serde::Deserialize;

use store::{CredsStore, StoreOptions, VerifyOutcome};

/// Options of the `creds` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The credentials folder; `$REWHO_CREDS_DIR` when absent.
    credsdir: Option<String>,
    /// The identity key holding the user name.
    #[serde(default = "default_login_key")]
    login_key: String,
    /// The identity key holding the token.
    #[serde(default = "default_token_key")]
    token_key: String,
    /// Token size in bytes.
    #[serde(default = "default_nbytes")]
    nbytes: usize,
}

fn default_login_key() -> String {
    "login".to_owned()
}

fn default_token_key() -> String {
    "password".to_owned()
}

fn default_nbytes() -> usize {
    store::DEFAULT_NBYTES
}

/// The plugin: a [`CredsStore`] and the identity keys to read.
#[derive(Debug)]
pub struct CredsAuthenticator {
    store: CredsStore,
    login_key: String,
    token_key: String,
}

impl CredsAuthenticator {
    /// An authenticator over `store`, reading the user name and token from these keys.
    pub fn new(store: CredsStore, login_key: &str, token_key: &str) -> Self {
        CredsAuthenticator {
            store,
            login_key: login_key.to_owned(),
            token_key: token_key.to_owned(),
        }
    }
}

impl Plugin for CredsAuthenticator {
    type Options = Options;
    const SUMMARY: &'static str = "token credentials in a fixie-creds folder: authenticator";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let dir = match o.credsdir {
            Some(d) => ctx.resolve_path(&d),
            None => store::creds_dir_from_env().ok_or_else(|| {
                PluginError::new("set `credsdir`, or REWHO_CREDS_DIR in the environment")
            })?,
        };
        let options = StoreOptions {
            nbytes: o.nbytes,
            create: false,
        };
        let store = CredsStore::open(dir, options).map_err(|e| PluginError(e.to_string()))?;
        if let Ok(m) = std::fs::metadata(store.dir()) {
            if m.permissions().mode() & 0o077 != 0 {
                ctx.host().warn(&format!(
                    "{}: other users may read this credentials folder (mode {:o}); \
                     consider `chmod 700`",
                    store.dir().display(),
                    m.permissions().mode() & 0o777
                ));
            }
        }
        Ok(CredsAuthenticator::new(store, &o.login_key, &o.token_key))
    }
}

// IAuthenticator
impl Authenticator for CredsAuthenticator {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let (Some(login), Some(token)) = (
            identity.get_str(&self.login_key),
            identity.get_str(&self.token_key),
        ) else {
            return Ok(None);
        };
        if store::validate_user(login).is_err() {
            return Ok(None);
        }
        match self.store.verify(login, token) {
            Ok(VerifyOutcome::Verified { user }) => Ok(Some(Value::from(user))),
            Ok(_) => Ok(None),
            Err(e) => Err(PluginError(e.to_string())),
        }
    }
}

rewho_plugin_api::export_plugin! {
    "creds" => CredsAuthenticator: [authenticator],
}
