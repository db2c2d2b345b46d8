//! Tracing set-up for the binary: `fmt` to stdout (pretty locally, JSON in production) and,
//! when an OTLP endpoint is configured, span export over gRPC. Libraries only emit events.

use anyhow::Context;
use natter_config::{LogFormat, TelemetrySettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Flushes and stops span export when dropped; keep it alive for the life of `main`.
#[must_use = "dropping the guard stops span export"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("warning: flushing spans at exit failed: {err}");
        }
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `settings.filter`.
///
/// # Errors
/// When the filter does not parse, the OTLP exporter cannot be built, or a subscriber is
/// already installed.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value).context("parsing RUST_LOG")?,
        _ => EnvFilter::try_new(&settings.filter)
            .context("parsing telemetry.filter (NATTER__TELEMETRY__FILTER)")?,
    };
    let fmt_layer = match settings.format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let provider = settings
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| tracer_provider(endpoint, &settings.service_name))
        .transpose()?;
    let otel_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(settings.service_name.clone()))
    });
    Registry::default()
        .with(filter)
        .with(no_router_spans())
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}

/// Turns off rumqttd's spans, keeping its events. Its router opens `error_span!`s (always
/// enabled by a level filter) with debug-formatted fields for every packet it handles: about
/// a tenth of the instructions of a stored message went to spans no log line ever shows
/// (docs/PERFORMANCE.md, "Profile of the 1:1 hot path").
fn no_router_spans<S: tracing::Subscriber>() -> impl Layer<S> {
    tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.is_span() && metadata.target().starts_with("rumqttd"))
    })
}

/// Builds a batching tracer provider that exports spans over OTLP/gRPC to `endpoint`, with
/// `service.name` set to `service_name`. Must be called within a Tokio runtime.
///
/// # Errors
/// When the exporter cannot be built (for example an invalid endpoint).
pub fn tracer_provider(endpoint: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| {
            format!("building the OTLP exporter for {endpoint} (NATTER__TELEMETRY__OTLP_ENDPOINT)")
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}
