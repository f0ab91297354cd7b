//! Test doubles for plugin authors: a host with a clock the test sets and captured log lines,
//! a way to build a plugin from INI-style options exactly as the host's factory would, and
//! request/environ views. For unit tests only: they leak small allocations on purpose so the
//! views they hand out can be `'static`.

use std::sync::{Arc, Mutex};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RNone, ROption, RStr, RVec},
};

use crate::abi::{
    Extension, FactoryContextAbi, FactoryContextAbi_TO, HostAbi, HostAbi_TO, HostRef, LogLevel,
    OptionEntry, PluginObjectRef, UnixTime, HOST_API_LEVEL,
};
use crate::state::{EnvironState, RequestParts};
use crate::{Environ, FactoryContext, Header, Host, Plugin, PluginError, Request};

/// A test host: a clock the test sets, captured log lines, no other plugins.
#[derive(Clone)]
pub struct TestHost {
    now: Arc<Mutex<UnixTime>>,
    logs: Arc<Mutex<Vec<(LogLevel, String)>>>,
}

impl HostAbi for TestHost {
    fn api_level(&self) -> u32 {
        HOST_API_LEVEL
    }
    fn plugin(&self, _name: RStr<'_>) -> ROption<PluginObjectRef> {
        RNone
    }
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((level, message.as_str().to_owned()));
    }
    fn now(&self) -> UnixTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn may_block(&self) -> bool {
        true
    }
    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        RNone
    }
}

struct TestFactoryContext {
    options: Vec<(String, String)>,
    config_dir: String,
    host: HostRef,
}

impl FactoryContextAbi for TestFactoryContext {
    fn plugin_id(&self) -> RStr<'_> {
        "test".into()
    }
    fn factory(&self) -> RStr<'_> {
        "test".into()
    }
    fn options(&self) -> RVec<OptionEntry<'_>> {
        self.options
            .iter()
            .map(|(k, v)| OptionEntry {
                key: k.as_str().into(),
                value: v.as_str().into(),
                #[cfg(feature = "__abi_break_for_tests")]
                __abi_break: 0,
            })
            .collect()
    }
    fn config_dir(&self) -> RStr<'_> {
        self.config_dir.as_str().into()
    }
    fn host(&self) -> HostRef {
        self.host.clone()
    }
    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        RNone
    }
}

impl TestHost {
    /// A host whose clock reads `secs` since the epoch.
    pub fn at(secs: i64) -> TestHost {
        TestHost {
            now: Arc::new(Mutex::new(UnixTime { secs, nanos: 0 })),
            logs: Arc::default(),
        }
    }

    /// Moves the clock.
    pub fn set_now(&self, secs: i64, nanos: u32) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = UnixTime { secs, nanos };
    }

    /// The SDK view of this host.
    pub fn host(&self) -> Host {
        Host::from_obj(self.host_ref())
    }

    fn host_ref(&self) -> HostRef {
        RArc::new(HostAbi_TO::from_value(self.clone(), TD_Opaque))
    }

    /// Logged lines at `level` or above.
    pub fn logs(&self, level: LogLevel) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Builds `P` from INI-style options under the section id `test`, exactly as the host's
    /// factory would.
    pub fn build<P: Plugin>(
        &self,
        options: &[(&str, &str)],
        config_dir: &str,
    ) -> Result<P, PluginError> {
        let opts: P::Options = crate::from_options("test", options.iter().copied())?;
        let ctx = TestFactoryContext {
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            config_dir: config_dir.to_owned(),
            host: self.host_ref(),
        };
        let sdk_ctx = FactoryContext::from_abi(FactoryContextAbi_TO::from_ptr(&ctx, TD_Opaque));
        let plugin = P::new(opts, &sdk_ctx);
        // The context borrows `ctx`: end it before `ctx` goes.
        drop(sdk_ctx);
        plugin
    }
}

/// Request headers from pairs (leaked: tests only).
pub fn headers(pairs: &[(&str, &str)]) -> Vec<Header<'static>> {
    pairs
        .iter()
        .map(|(k, v)| Header::new(leak(k), leak(v)))
        .collect()
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// A `GET http://{host}/path?x=1` from `client_addr` (also the peer), with `headers`.
pub fn request<'a>(host: &'a str, client_addr: &'a str, headers: &'a [Header<'a>]) -> Request<'a> {
    let parts: &'a RequestParts<'a> = Box::leak(Box::new(RequestParts {
        method: "GET",
        scheme: "http",
        host,
        path: "/path",
        query: "x=1",
        peer_addr: client_addr,
        client_addr,
        headers,
    }));
    parts.view()
}

/// A fresh, empty environ view (leaked: tests only).
pub fn environ() -> Environ<'static> {
    Box::leak(Box::new(EnvironState::new())).view()
}

/// The view of `parts` (leaked: tests only), for requests [`request`] does not cover.
pub fn view(parts: RequestParts<'_>) -> Request<'_> {
    Box::leak(Box::new(parts)).view()
}
