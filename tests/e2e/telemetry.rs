//! Span export over OTLP, against an in-process fake collector; per-hop timing on
//! `/metrics`.

use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use natter_proto::envelope::{Event, Target};
use natter_tests::{TestApp, eventually, scenario, spawn_app};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

use crate::messaging::{device, event, request, send};

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

/// Every hop of a message, in path order (docs/PERFORMANCE.md, "Per-hop timing").
const HOPS: [&str; 6] = [
    "edge_to_bridge",
    "bridge_queue",
    "commit",
    "publish",
    "bridge_to_socket",
    "hub_to_socket",
];

scenario!(each_hop_of_a_message_is_timed_on_metrics, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let ada = app.create_user("+15551230001").await?;
    let bob = app.create_user("+15551230002").await?;
    let mut ada_phone = device(&app, &ada).await?;
    let mut bob_phone = device(&app, &bob).await?;
    // The recorder is shared by every app of this test process: counts only grow.
    let before = hop_counts(&app).await?;

    for n in 0..3 {
        let id = format!("c{n}");
        request(
            &ada_phone,
            ada.user_id,
            &send(&id, Target::User(bob.user_id), "hi"),
        )
        .await?;
        assert!(matches!(event(&mut ada_phone).await?, Event::Sent { .. }));
        assert!(matches!(
            event(&mut bob_phone).await?,
            Event::Message { .. }
        ));
    }

    // Three requests through the bridge; six events (three `sent`, three `message`) written.
    let timed = eventually(Duration::from_secs(5), || async {
        let now = hop_counts(&app).await?;
        let grown: Vec<u64> = now
            .iter()
            .zip(&before)
            .map(|(now, was)| now - was)
            .collect();
        let bridge_hops = grown[..4].iter().all(|&count| count >= 3);
        let edge_hops = grown[4..].iter().all(|&count| count >= 6);
        Ok((bridge_hops && edge_hops).then_some(()))
    })
    .await;
    if timed.is_err() {
        let now = hop_counts(&app).await?;
        anyhow::bail!("hop counts of {HOPS:?} did not grow enough: before {before:?}, now {now:?}");
    }
    app.stop().await
});

/// `natter_hop_seconds_count` of each of [`HOPS`] (0 while a hop has no sample yet).
async fn hop_counts(app: &TestApp) -> anyhow::Result<Vec<u64>> {
    let body = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    HOPS.iter()
        .map(|hop| {
            let name = format!("natter_hop_seconds_count{{hop=\"{hop}\"}} ");
            match body
                .lines()
                .find_map(|line| line.strip_prefix(name.as_str()))
            {
                Some(count) => Ok(count.trim().parse::<f64>()? as u64),
                None => Ok(0),
            }
        })
        .collect()
}
