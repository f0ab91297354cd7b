//! The auth_tkt, basicauth and htpasswd plugins linked into the binary, for the benches and
//! the in-process harness that compare them with the same plugins loaded from `.so` files.
//! Included with `#[path]` (benches and examples share no module tree).

use rewho::{ApiFactoryBuilder, PluginLibrary};

/// `builder` with the three standard plugins' code linked in, under their short names.
pub fn with_static_plugins(builder: ApiFactoryBuilder) -> ApiFactoryBuilder {
    builder
        .static_library(
            "auth_tkt",
            PluginLibrary::from_static("auth_tkt", rewho_plugin_auth_tkt::rewho_plugin_module()),
        )
        .static_library(
            "basicauth",
            PluginLibrary::from_static("basicauth", rewho_plugin_basicauth::rewho_plugin_module()),
        )
        .static_library(
            "htpasswd",
            PluginLibrary::from_static("htpasswd", rewho_plugin_htpasswd::rewho_plugin_module()),
        )
}
