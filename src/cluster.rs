//! Several nodes on one Redis: the edge's [`ClusterLink`] over Redis pub/sub.
//!
//! Channels, under `redis.key_prefix`:
//! - `{prefix}:u:{user_id}`: what any node's router delivered on that user's topics (inbox,
//!   replies, presence). A node subscribes while it holds a device of the user, so a message
//!   reaches only the nodes that hold one of its recipients' devices.
//! - `{prefix}:control`: control topics (revocations, removals) and device announcements
//!   (take-over across nodes); every node subscribes.
//!
//! A frame is this node's 16-byte id, a kind byte, then for a message the topic's length (u16,
//! big-endian), the topic and the payload, or for an announcement the device id (i64,
//! big-endian). A node skips its own frames. Publishing never waits on the caller's task: a
//! bounded queue feeds one publisher task, which pipelines what has queued up; when the queue
//! is full (Redis far behind) the frame is dropped and counted, and devices catch up from the
//! database cursor as after any lost live event (docs/PROTOCOL.md, "Gaps").

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use natter_broker::Broker;
use natter_broker::edge::cluster::ClusterLink;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Frames waiting for the publisher task.
const QUEUE: usize = 65_536;
/// Most frames in one pipeline.
const PIPELINE: usize = 256;
/// Counter: frames dropped because the queue to Redis was full.
const DROPPED: &str = "natter_cluster_frames_dropped_total";
/// Counter: frames sent to and received from the other nodes.
const SENT: &str = "natter_cluster_frames_sent_total";
const RECEIVED: &str = "natter_cluster_frames_received_total";

const KIND_MESSAGE: u8 = 1;
const KIND_DEVICE: u8 = 2;

/// What the publisher and subscriber tasks are asked to do.
#[derive(Debug)]
enum Job {
    Publish { channel: String, frame: Vec<u8> },
    Subscribe(String),
    Unsubscribe(String),
}

/// This node's side of the cluster, handed to the edge.
#[derive(Debug)]
pub struct RedisCluster {
    node: [u8; 16],
    prefix: String,
    jobs: mpsc::Sender<Job>,
    /// Subscriptions go on their own queue: they must never be dropped.
    subscriptions: mpsc::UnboundedSender<Job>,
}

impl RedisCluster {
    fn user_channel(&self, user_id: i64) -> String {
        format!("{}:u:{user_id}", self.prefix)
    }

    fn control_channel(&self) -> String {
        format!("{}:control", self.prefix)
    }

    fn frame(&self, kind: u8, capacity: usize) -> Vec<u8> {
        let mut frame = Vec::with_capacity(17 + capacity);
        frame.extend_from_slice(&self.node);
        frame.push(kind);
        frame
    }

    fn publish(&self, channel: String, frame: Vec<u8>) {
        if self.jobs.try_send(Job::Publish { channel, frame }).is_err() {
            metrics::counter!(DROPPED).increment(1);
        }
    }
}

impl ClusterLink for RedisCluster {
    fn forward(&self, user_id: Option<i64>, topic: &str, payload: &Bytes) {
        let Ok(topic_len) = u16::try_from(topic.len()) else {
            return;
        };
        let mut frame = self.frame(KIND_MESSAGE, 2 + topic.len() + payload.len());
        frame.extend_from_slice(&topic_len.to_be_bytes());
        frame.extend_from_slice(topic.as_bytes());
        frame.extend_from_slice(payload);
        let channel = match user_id {
            Some(user) => self.user_channel(user),
            None => self.control_channel(),
        };
        self.publish(channel, frame);
    }

    fn device_attached(&self, user_id: i64, device_id: i64, first_of_user: bool) {
        if first_of_user {
            let _ = self
                .subscriptions
                .send(Job::Subscribe(self.user_channel(user_id)));
        }
        let mut frame = self.frame(KIND_DEVICE, 8);
        frame.extend_from_slice(&device_id.to_be_bytes());
        self.publish(self.control_channel(), frame);
    }

    fn user_left(&self, user_id: i64) {
        let _ = self
            .subscriptions
            .send(Job::Unsubscribe(self.user_channel(user_id)));
    }
}

/// Connects to Redis (`url`) twice, one connection to publish and one to receive (RESP3 push,
/// resubscribed automatically after a reconnect), subscribes the control channel, makes
/// `broker` a member of the cluster and runs the two tasks until `shutdown`. With
/// `unshared_media` (local media files nobody else sees), joining running nodes is refused.
///
/// # Errors
/// When Redis does not answer within `timeout`, or other nodes run and media are not shared.
pub async fn join(
    url: &str,
    prefix: &str,
    broker: &Broker,
    timeout: Duration,
    unshared_media: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client =
        redis::Client::open(url).context("redis.url is not a Redis URL (NATTER__REDIS__URL)")?;
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let push_client = redis::Client::open(info.set_redis_settings(settings))
        .context("redis.url (NATTER__REDIS__URL)")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_max_delay(Duration::from_secs(2));
    let publisher = tokio::time::timeout(
        timeout,
        client.get_connection_manager_with_config(config.clone()),
    )
    .await
    .context("Redis did not answer (NATTER__REDIS__URL)")?
    .context("cannot connect to Redis for the cluster (NATTER__REDIS__URL)")?;
    let (pushes_tx, pushes) = mpsc::unbounded_channel();
    let mut receiver = tokio::time::timeout(
        timeout,
        push_client.get_connection_manager_with_config(
            config
                .set_push_sender(pushes_tx)
                .set_automatic_resubscription(),
        ),
    )
    .await
    .context("Redis did not answer (NATTER__REDIS__URL)")?
    .context("cannot connect to Redis for the cluster (NATTER__REDIS__URL)")?;

    let (jobs, jobs_rx) = mpsc::channel(QUEUE);
    let (subscriptions, subscriptions_rx) = mpsc::unbounded_channel();
    let link = Arc::new(RedisCluster {
        node: *uuid::Uuid::new_v4().as_bytes(),
        prefix: prefix.to_owned(),
        jobs,
        subscriptions,
    });
    // Every node subscribes the control channel: a PUBLISH there counts the running nodes.
    if unshared_media {
        let mut redis = publisher.clone();
        let running: i64 = tokio::time::timeout(
            timeout,
            redis::cmd("PUBLISH")
                .arg(link.control_channel())
                .arg(Vec::<u8>::new())
                .query_async(&mut redis),
        )
        .await
        .context("Redis did not answer (NATTER__REDIS__URL)")??;
        anyhow::ensure!(
            running == 0,
            "{running} other natter node(s) run on this Redis (key prefix {prefix:?}) while media are \
             local files only this node sees: several nodes need shared media \
             (NATTER__STORAGE__BACKEND=s3, or NATTER__STORAGE__LOCAL_SHARED=true for a directory \
             every node shares)"
        );
    }
    receiver
        .subscribe(link.control_channel())
        .await
        .context("subscribing the cluster's control channel")?;
    broker.join_cluster(link.clone());
    info!("joined the cluster on Redis");
    tokio::spawn(run_publisher(publisher, jobs_rx, shutdown.clone()));
    tokio::spawn(run_subscriptions(
        receiver,
        subscriptions_rx,
        shutdown.clone(),
    ));
    tokio::spawn(run_receiver(link.node, broker.clone(), pushes, shutdown));
    Ok(())
}

async fn run_publisher(
    mut redis: ConnectionManager,
    mut jobs: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(PIPELINE);
    loop {
        let taken = tokio::select! {
            _ = shutdown.cancelled() => return,
            n = jobs.recv_many(&mut batch, PIPELINE) => n,
        };
        if taken == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        for job in batch.drain(..) {
            if let Job::Publish { channel, frame } = job {
                pipe.publish(channel, frame).ignore();
            }
        }
        match pipe.query_async::<()>(&mut redis).await {
            Ok(()) => metrics::counter!(SENT).increment(taken as u64),
            Err(err) => {
                metrics::counter!(DROPPED).increment(taken as u64);
                warn!(error = %err, frames = taken, "publishing to the other nodes failed");
            }
        }
    }
}

async fn run_subscriptions(
    mut redis: ConnectionManager,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    shutdown: CancellationToken,
) {
    loop {
        let job = tokio::select! {
            _ = shutdown.cancelled() => return,
            job = jobs.recv() => job,
        };
        let outcome = match job {
            None => return,
            Some(Job::Subscribe(channel)) => redis.subscribe(&channel).await,
            Some(Job::Unsubscribe(channel)) => redis.unsubscribe(&channel).await,
            Some(Job::Publish { .. }) => Ok(()),
        };
        if let Err(err) = outcome {
            // The device's messages from other nodes then arrive through its next sync.
            warn!(error = %err, "changing a cluster subscription failed");
        }
    }
}

async fn run_receiver(
    node: [u8; 16],
    broker: Broker,
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    shutdown: CancellationToken,
) {
    loop {
        let push = tokio::select! {
            _ = shutdown.cancelled() => return,
            push = pushes.recv() => push,
        };
        let Some(push) = push else { return };
        if push.kind != PushKind::Message {
            continue;
        }
        let Some(Value::BulkString(frame)) = push.data.get(1) else {
            continue;
        };
        match parse(frame) {
            Some((origin, _)) if origin == node => {}
            Some((_, Frame::Message { topic, payload })) => {
                metrics::counter!(RECEIVED).increment(1);
                broker.deliver_from_cluster(topic, &Bytes::copy_from_slice(payload));
            }
            Some((_, Frame::Device(device_id))) => broker.device_connected_elsewhere(device_id),
            None => debug!("dropping a malformed cluster frame"),
        }
    }
}

enum Frame<'a> {
    Message { topic: &'a str, payload: &'a [u8] },
    Device(i64),
}

fn parse(frame: &[u8]) -> Option<([u8; 16], Frame<'_>)> {
    let node: [u8; 16] = frame.get(..16)?.try_into().ok()?;
    let body = frame.get(17..)?;
    match *frame.get(16)? {
        KIND_MESSAGE => {
            let len = usize::from(u16::from_be_bytes(body.get(..2)?.try_into().ok()?));
            let topic = std::str::from_utf8(body.get(2..2 + len)?).ok()?;
            let payload = body.get(2 + len..)?;
            Some((node, Frame::Message { topic, payload }))
        }
        KIND_DEVICE => {
            let id = i64::from_be_bytes(body.get(..8)?.try_into().ok()?);
            Some((node, Frame::Device(id)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_and_garbage_is_refused() {
        let (jobs, mut queued) = mpsc::channel(4);
        let (subscriptions, _) = mpsc::unbounded_channel();
        let link = RedisCluster {
            node: [7; 16],
            prefix: "p".into(),
            jobs,
            subscriptions,
        };
        link.forward(Some(3), "u/3/inbox", &Bytes::from_static(b"hello"));
        let Some(Job::Publish { channel, frame }) = queued.try_recv().ok() else {
            panic!("nothing queued");
        };
        assert_eq!(channel, "p:u:3");
        match parse(&frame) {
            Some((node, Frame::Message { topic, payload })) => {
                assert_eq!(
                    (node, topic, payload),
                    ([7; 16], "u/3/inbox", &b"hello"[..])
                );
            }
            _ => panic!("the frame does not read back"),
        }
        assert!(parse(b"short").is_none());
        assert!(parse(&[0; 17]).is_none());
    }
}
