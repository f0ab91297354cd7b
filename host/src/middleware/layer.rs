use tower::Layer;

use super::{SharedFactory, WhoService};
use crate::ApiFactory;

/// Applies [`WhoService`] (authentication with an [`ApiFactory`]) to a service.
///
/// See the [module docs](crate::WhoLayer) for what happens to each request.
#[derive(Debug, Clone)]
pub struct WhoLayer {
    shared: SharedFactory,
}

impl WhoLayer {
    /// A layer authenticating with `factory`.
    ///
    /// # Panics
    ///
    /// When the factory's `[general] trusted_proxies` has an entry that is not an IP address
    /// or CIDR (a config error: refuse to start). [`SharedFactory::new`] reports it instead.
    pub fn new(factory: ApiFactory) -> Self {
        match SharedFactory::new(factory) {
            Ok(shared) => WhoLayer { shared },
            Err(e) => panic!("{e}"),
        }
    }

    /// A layer on a replaceable factory (a server that reloads its config).
    pub fn shared(shared: SharedFactory) -> Self {
        WhoLayer { shared }
    }
}

impl<S> Layer<S> for WhoLayer {
    type Service = WhoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WhoService::new(inner, self.shared.clone())
    }
}
