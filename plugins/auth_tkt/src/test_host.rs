//! A host for tests: a clock the test sets, and captured log lines. Shared by the unit tests
//! and (through `#[path]`) the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RNone, ROption, RSlice, RStr},
};
use rewho_plugin_api::abi::{
    FactoryContextAbi, HostAbi, HostAbi_TO, HostRef, LogLevel, OptionEntry, PluginObjectRef,
    UnixTime,
};
use rewho_plugin_api::{FactoryContext, Header, Host, Plugin, PluginError, Request};

/// A test host: fixed clock, captured logs.
#[derive(Clone)]
pub(crate) struct TestHost {
    now: Arc<Mutex<UnixTime>>,
    logs: Arc<Mutex<Vec<(LogLevel, String)>>>,
}

impl HostAbi for TestHost {
    fn plugin(&self, _name: RStr<'_>) -> ROption<PluginObjectRef> {
        RNone
    }
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.logs
            .lock()
            .unwrap()
            .push((level, message.as_str().to_owned()));
    }
    fn now(&self) -> UnixTime {
        *self.now.lock().unwrap()
    }
}

impl TestHost {
    /// A host whose clock reads `secs` since the epoch.
    pub(crate) fn at(secs: i64) -> TestHost {
        TestHost {
            now: Arc::new(Mutex::new(UnixTime { secs, nanos: 0 })),
            logs: Arc::default(),
        }
    }

    /// Moves the clock.
    pub(crate) fn set_now(&self, secs: i64, nanos: u32) {
        *self.now.lock().unwrap() = UnixTime { secs, nanos };
    }

    /// The SDK view of this host.
    pub(crate) fn host(&self) -> Host {
        Host::from_obj(self.host_ref())
    }

    fn host_ref(&self) -> HostRef {
        RArc::new(HostAbi_TO::from_value(self.clone(), TD_Opaque))
    }

    /// Logged lines at `level` or above.
    pub(crate) fn logs(&self, level: LogLevel) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Builds `P` from INI-style options, exactly as the host's factory would.
    pub(crate) fn build<P: Plugin>(
        &self,
        options: &[(&str, &str)],
        config_dir: &str,
    ) -> Result<P, PluginError> {
        let opts: P::Options = rewho_plugin_api::from_options("test", options.iter().copied())?;
        let entries: Vec<OptionEntry<'_>> = options
            .iter()
            .map(|(k, v)| OptionEntry {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect();
        let abi = FactoryContextAbi {
            plugin_id: "test".into(),
            factory: "test".into(),
            options: RSlice::from_slice(&entries),
            config_dir: config_dir.into(),
            host: self.host_ref(),
        };
        P::new(opts, &FactoryContext::from_abi(&abi))
    }
}

/// Request headers as owned pairs, borrowed by [`request`].
pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> Vec<Header<'static>> {
    pairs
        .iter()
        .map(|(k, v)| Header {
            name: (*k).into(),
            value: RStr::from_str(Box::leak(v.to_string().into_boxed_str())),
        })
        .collect()
}

/// A GET request to `http://{host}/path?x=1` from `remote_addr`.
pub(crate) fn request<'a>(
    host: &'a str,
    remote_addr: &'a str,
    headers: &'a [Header<'a>],
) -> Request<'a> {
    Request {
        method: "GET".into(),
        scheme: "http".into(),
        host: host.into(),
        path: "/path".into(),
        query: "x=1".into(),
        remote_addr: remote_addr.into(),
        headers: headers.into(),
    }
}
