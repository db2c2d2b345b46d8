//! Span export over OTLP, against an in-process fake collector.

use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_the_configured_otlp_endpoint() -> anyhow::Result<()> {
    let mut collector = FakeCollectorServer::start()
        .await
        .map_err(|err| anyhow::anyhow!("starting the fake collector: {err}"))?;
    let provider = natter::telemetry::tracer_provider(&collector.endpoint(), "natter-test")?;
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("natter-test")));

    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("persist_message", topic = "u/1/out");
        span.in_scope(|| tracing::info!("inside"));
    });
    provider.force_flush()?;
    let spans = collector.exported_spans(1, Duration::from_secs(10)).await;

    let span = spans
        .iter()
        .find(|span| span.name == "persist_message")
        .ok_or_else(|| anyhow::anyhow!("span not exported: {spans:?}"))?;
    // The fake collector renders attribute values with Debug, e.g. `StringValue("u/1/out")`.
    let topic = span
        .attributes
        .get("topic")
        .map(String::as_str)
        .unwrap_or_default();
    assert!(topic.contains("\"u/1/out\""), "{:?}", span.attributes);
    provider.shutdown()?;
    Ok(())
}
