//! Sending control messages (device revoked, member removed) to running nodes: a short MQTT
//! session as the `service` user on the broker's internal listener. Every edge subscribes to
//! the control topics, so one publish reaches all nodes behind that broker.

use std::time::Duration;

use natter_proto::SERVICE_USERNAME;
use natter_proto::topics::ControlTopic;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secrecy::{ExposeSecret, SecretString};

/// How long to try before concluding that no node is running.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Publishes `control` to the broker at `broker_addr` (`host:port`). Returns `false` when no
/// broker answers (nothing is running, so nothing needs telling).
///
/// # Errors
/// When the broker answers but refuses the service credentials.
pub async fn publish(
    broker_addr: &str,
    password: &SecretString,
    control: ControlTopic,
) -> anyhow::Result<bool> {
    let Some((host, port)) = broker_addr.rsplit_once(':') else {
        anyhow::bail!("invalid broker address {broker_addr:?}");
    };
    let mut options = MqttOptions::new(
        format!("natter-admin-{}", std::process::id()),
        host,
        port.parse()?,
    );
    options.set_credentials(SERVICE_USERNAME, password.expose_secret());
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    client
        .publish(control.topic(), QoS::AtLeastOnce, false, Vec::new())
        .await?;
    let outcome = tokio::time::timeout(TIMEOUT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(true),
                Ok(_) => {}
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    anyhow::bail!("the broker refused the service credentials ({code:?})")
                }
                Err(_) => return Ok(false),
            }
        }
    })
    .await
    .unwrap_or(Ok(false))?;
    let _ = client.try_disconnect();
    Ok(outcome)
}

/// [`natter_api::v1::ControlPublisher`] through [`publish`]: one short service session per
/// control message (they are rare: revocations, removals).
#[derive(Debug)]
pub struct ServiceControl {
    /// The broker's internal listener, `host:port`.
    pub broker_addr: String,
    /// The `service` user's password.
    pub password: SecretString,
}

impl natter_api::v1::ControlPublisher for ServiceControl {
    fn publish(
        &self,
        control: ControlTopic,
    ) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match publish(&self.broker_addr, &self.password, control).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("no broker answered at {}", self.broker_addr)),
                Err(err) => Err(format!("{err:#}")),
            }
        })
    }
}
