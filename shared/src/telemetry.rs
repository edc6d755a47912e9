//! JSON logs for CloudWatch, one line per event, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber on stdout for the whole process (called once, at init).
pub fn init() {
    // A second call (tests, or a host that installed one) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout));
}

/// The subscriber `init` installs, writing to `writer`: tests capture exactly what production logs.
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line already
        .with_target(false)
        .with_writer(writer)
        .finish()
}
