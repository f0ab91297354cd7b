//! The network side of rewho's caching plugins (`memcached`, `metadata_cache`).
//!
//! A key design decision made in this crate is to **speak memcached's text protocol directly
//! over std sockets** rather than through a client crate:
//!
//! - every connect, read and write is bounded by one short timeout (100 ms by default), so a
//!   hung server costs a request milliseconds, never seconds;
//! - a failed server is skipped for a retry interval and redialled by one request at a time,
//!   and the outage and the recovery are each logged once ([`Pool`]);
//! - keys are spread over servers exactly as pylibmc does by default ([`server_index`]), so
//!   rewho and Python hosts sharing a cache agree;
//! - three commands (`get`, `set`, `delete`) are all the plugins need.
//!
//! [`Pool`] is generic over the connection type so the Redis backend of `metadata_cache`
//! gets the same outage handling.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod memcached;
mod pool;

pub use memcached::{
    one_at_a_time, server_index, valid_key, Client, ClientConfig, Conn, ServerAddr, DEFAULT_PORT,
    MAX_KEY_LEN, MAX_VALUE_LEN,
};
pub use pool::{no_log, Level, Log, OpError, Pool, PoolConfig, Unavailable};
