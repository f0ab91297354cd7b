//! `rewho serve` (filled in by the serving edge).

use std::process::ExitCode;

/// Arguments of `rewho serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The config file.
    #[arg(long, default_value = "who.ini")]
    pub config: std::path::PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Proxy every other request to this URL.
    #[arg(long)]
    pub upstream: Option<String>,
}

/// Runs the server.
pub fn serve(_args: ServeArgs) -> ExitCode {
    eprintln!("rewho serve: not available in this build yet");
    ExitCode::from(2)
}
