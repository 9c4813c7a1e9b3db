//! Logs: JSON for machines or pretty for people, filtered by the settings or RUST_LOG; every request's
//! lines carry its request id through the request span (JSON: in `spans`, the list of every span the
//! line was logged in, and in `span` when the request span is the innermost).

use anyhow::Context;
use serde::Deserialize;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// The subscriber the service logs through, writing to `writer` (tests capture it in a buffer).
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match settings.format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

pub fn init(settings: &LogSettings) {
    // A second init (tests build many apps) is harmless, so its error is ignored.
    let _ = subscriber(settings, std::io::stderr).try_init();
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl LogSettings {
    /// Refuses a filter that does not parse: `EnvFilter::new` would drop it with a line on stderr
    /// and log at its default level.
    pub fn validate(&self) -> anyhow::Result<()> {
        EnvFilter::try_new(&self.filter)
            .map(drop)
            .with_context(|| format!("log.filter: `{}` is not a tracing filter", self.filter))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}
