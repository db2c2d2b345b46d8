//! One client connection: the CONNECT handshake (version, credentials, take-over), then the
//! loop that reads packets, writes deliveries, enforces keep-alive and obeys control
//! messages, and finally the Last Will and the persistent session.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use metrics::{counter, gauge};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, warn};

use crate::edge::EdgeContext;
use crate::edge::auth::{Identity, Verdict};
use crate::edge::codec::{
    self, CloseReason, ConnAckCode, Connect, DecodeError, Inbound, Outbound, ServerLimits, Version,
    Will,
};
use crate::edge::handlers::{self, Flow};
use crate::edge::hook::DisconnectReason;
use crate::edge::hub::{Control, SessionHandle};
use crate::edge::session::{Aliases, State};
use crate::edge::telemetry::{
    CONNECTIONS, CONNECTS, HOP_BRIDGE_TO_SOCKET, HOP_HUB_TO_SOCKET, HOP_SECONDS, PROTOCOL_ERRORS,
};

/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Topic aliases a v5 client may use towards the server.
pub(crate) const TOPIC_ALIAS_MAXIMUM: u16 = 64;
/// Deliveries buffered per connection before it counts as too slow.
const DELIVERY_BUFFER: usize = 1024;
/// Bytes of deliveries held per connection (buffered, queued behind the window, or in
/// flight) before it counts as too slow: with [`DELIVERY_BUFFER`], what bounds a
/// connection's memory whatever is sent to it. At least two of the largest packets.
const DELIVERY_BYTES: usize = 16 * 1024 * 1024;
/// Buffer capacity an idle connection may keep.
const IDLE_BUFFER: usize = 16 * 1024;
/// How long a connection taking over waits for the previous one to wind up.
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);

/// A live session: everything the handlers need.
pub(crate) struct Live<'a> {
    pub(crate) ctx: &'a EdgeContext,
    pub(crate) version: Version,
    pub(crate) identity: Identity,
    pub(crate) handle: SessionHandle,
    pub(crate) state: State,
    pub(crate) aliases: Aliases,
    pub(crate) window: usize,
    pub(crate) out: BytesMut,
    /// The envelope encoding the client asked for.
    pub(crate) format: crate::edge::format::Format,
    /// Server-to-client topic aliases.
    pub(crate) out_aliases: crate::edge::format::OutAliases,
    /// Calls waiting for their answer on a v5 response topic.
    pub(crate) calls: crate::edge::calls::Pending,
    /// Outbox publishes handed to the router whose bridge report has not come yet.
    pub(crate) outbox_waiting: usize,
    /// An outbox publish waiting for room; nothing more is read from the socket meanwhile.
    pub(crate) parked: Option<handlers::Parked>,
}

impl Live<'_> {
    /// Counts `bytes` more of deliveries held for this session.
    pub(crate) fn charge(&self, bytes: usize) {
        self.handle.buffered.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts `bytes` of deliveries no longer held.
    pub(crate) fn release(&self, bytes: usize) {
        let _ = self
            .handle
            .buffered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// Queues `packet` for writing.
    pub(crate) fn send(&mut self, packet: Outbound) {
        codec::encode(self.version, packet, &mut self.out);
    }

    /// Queues a PUBLISH of a delivery: in the client's envelope encoding, with a topic alias
    /// when the client allows them. The first time an event from a bridge goes out, its last
    /// hops are timed: it is written to the socket at the top of the connection loop, right
    /// after this turn (a socket that is full holds up the loop, and so shows in the times
    /// of the deliveries after it).
    pub(crate) fn publish(
        &mut self,
        delivery: &crate::edge::hub::Delivery,
        qos: u8,
        pkid: u16,
        dup: bool,
    ) {
        let payload =
            crate::edge::format::convert(self.format, &delivery.topic, delivery.payload.clone());
        let (topic, topic_alias) = self.out_aliases.apply(&delivery.topic);
        self.send(Outbound::Publish {
            topic,
            payload,
            qos,
            pkid,
            dup,
            topic_alias,
            correlation: delivery.correlation.clone(),
        });
        if let (Some(timing), false) = (delivery.timing, dup) {
            let now = natter_proto::stamp::now_micros();
            metrics::histogram!(HOP_SECONDS, "hop" => HOP_BRIDGE_TO_SOCKET)
                .record(timing.published.seconds_until(now));
            metrics::histogram!(HOP_SECONDS, "hop" => HOP_HUB_TO_SOCKET)
                .record(timing.received.elapsed().as_secs_f64());
        }
    }
}

/// Serves one client connection until it ends. `permit` is `None` when the server is at its
/// connection limit: the client is then told "server unavailable" after its CONNECT.
pub(crate) async fn serve<S>(
    mut stream: S,
    ctx: Arc<EdgeContext>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // Small: most CONNECTs fit, and an idle connection should hold next to nothing.
    let mut input = BytesMut::with_capacity(256);
    let (version, connect) =
        match tokio::time::timeout(CONNECT_TIMEOUT, read_connect(&mut stream, &mut input, &ctx))
            .await
        {
            Ok(Ok(Some(first))) => first,
            Ok(Ok(None)) => return,
            Ok(Err(err)) => {
                refuse_malformed(&mut stream, err).await;
                return;
            }
            Err(_) => {
                counter!(PROTOCOL_ERRORS, "reason" => "connect_timeout").increment(1);
                return;
            }
        };
    if permit.is_none() {
        refuse(
            &mut stream,
            version,
            ConnAckCode::ServerUnavailable,
            "server_full",
        )
        .await;
        return;
    }
    if version == Version::V4 && connect.client_id.is_empty() && !connect.clean_start {
        // MQTT 3.1.1 §3.1.3.1: an empty client id needs a clean session.
        refuse(
            &mut stream,
            version,
            ConnAckCode::ClientIdRejected,
            "client_id_rejected",
        )
        .await;
        return;
    }
    let identity = match authenticate(&ctx, &connect).await {
        Ok(identity) => identity,
        Err((code, outcome)) => {
            refuse(&mut stream, version, code, outcome).await;
            return;
        }
    };
    run_session(stream, input, ctx, version, connect, identity).await;
    drop(permit);
}

async fn run_session<S>(
    mut stream: S,
    mut input: BytesMut,
    ctx: Arc<EdgeContext>,
    version: Version,
    connect: Connect,
    identity: Identity,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (deliveries_tx, mut deliveries) = mpsc::channel(DELIVERY_BUFFER);
    let (control_tx, mut control) = mpsc::unbounded_channel();
    let handle = SessionHandle {
        id: ctx.next_session_id.fetch_add(1, Ordering::Relaxed),
        user_id: identity.user_id,
        device_id: identity.device_id,
        deliveries: deliveries_tx,
        buffered: Arc::default(),
        max_buffered: DELIVERY_BYTES.max(2 * ctx.limits.max_packet_size),
        control: control_tx,
        done: tokio_util::sync::CancellationToken::new(),
    };
    if let Some(previous) = ctx.hub.attach(&handle) {
        let _ = previous
            .control
            .send(Control::Close(CloseReason::SessionTakenOver));
        // Wait for it to store its session, so that this connection resumes it.
        let _ = tokio::time::timeout(TAKEOVER_WAIT, previous.done.cancelled()).await;
    }
    let restored = if connect.clean_start {
        None
    } else {
        ctx.sessions.take(identity.device_id)
    };
    if connect.clean_start {
        let _ = ctx.sessions.take(identity.device_id);
    }
    let session_present = restored.is_some();
    let keep_alive = effective_keep_alive(connect.keep_alive_secs, ctx.limits.keep_alive_max_secs);
    let mut live = Live {
        ctx: &ctx,
        version,
        identity,
        handle,
        state: State::default(),
        aliases: Aliases::default(),
        window: usize::from(
            connect
                .receive_maximum
                .unwrap_or(u16::MAX)
                .min(ctx.limits.max_inflight)
                .max(1),
        ),
        out: BytesMut::new(),
        format: connect.format,
        out_aliases: crate::edge::format::OutAliases::new(connect.topic_alias_maximum),
        calls: crate::edge::calls::Pending::default(),
        outbox_waiting: 0,
        parked: None,
    };
    let assigned_client_id = connect
        .client_id
        .is_empty()
        .then(|| format!("d{}", identity.device_id));
    live.send(Outbound::ConnAck {
        code: ConnAckCode::Success,
        session_present,
        limits: Some(ServerLimits {
            receive_maximum: ctx.limits.max_inflight,
            max_packet_size: u32::try_from(ctx.limits.max_packet_size).unwrap_or(u32::MAX),
            topic_alias_maximum: TOPIC_ALIAS_MAXIMUM,
            server_keep_alive: (keep_alive != connect.keep_alive_secs).then_some(keep_alive),
            assigned_client_id,
        }),
    });
    if let Some(restored) = restored {
        handlers::restore(&mut live, restored).await;
    }
    counter!(CONNECTS, "outcome" => "accepted").increment(1);
    gauge!(CONNECTIONS).increment(1.0);
    ctx.presence.connected(&identity, live.handle.id);
    // Debug, not info: at thousands of connects a second the log line costs real CPU.
    debug!(
        device_id = identity.device_id,
        user_id = identity.user_id,
        ?version,
        "client connected"
    );

    let farewell = Farewell {
        will: connect.will,
        session_expiry_secs: connect.session_expiry_secs,
    };
    drop(connect.password);
    let idle_limit = Duration::from_millis(u64::from(keep_alive) * 1500);
    let mut deadline = Instant::now() + idle_limit;
    // The node budget an outbox publish waits for, kept across turns so that connections
    // get it in the order they asked (the semaphore is fair).
    let mut budget: Option<BudgetWait> = None;
    let ending = loop {
        if !live.out.is_empty() {
            // Flush too: TLS and WebSocket streams buffer what is written.
            if stream.write_all(&live.out).await.is_err() || stream.flush().await.is_err() {
                break End::Lost;
            }
            live.out.clear();
            release_if_large(&mut live.out);
        }
        release_if_large(&mut input);
        if budget.is_none()
            && let Some(parked) = &live.parked
            && handlers::outbox_has_room(&live)
        {
            let semaphore = ctx.hub.outbox_budget();
            budget = Some(Box::pin(semaphore.acquire_many_owned(parked.cost)));
        }
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break End::Closed(CloseReason::ShuttingDown),
            Some(instruction) = control.recv() => match instruction {
                Control::Close(reason) => break End::Closed(reason),
                Control::LeaveGroup(group_id) => live.state.leave_group(group_id),
                Control::OutboxDone { pkid, failed } => {
                    let parked = live.parked.is_some();
                    match handlers::outbox_done(&mut live, pkid, failed).await {
                        Flow::Continue => {}
                        Flow::Disconnect => break End::Clean,
                        Flow::Close(reason) => break End::Closed(reason),
                    }
                    if parked && live.parked.is_none() {
                        // Unparked: the socket was not read meanwhile, so the client's
                        // silence was ours. Go on with what is buffered.
                        budget = None;
                        deadline = Instant::now() + idle_limit;
                        match read_packets(&mut live, &mut input).await {
                            Flow::Continue => {}
                            Flow::Disconnect => break End::Clean,
                            Flow::Close(reason) => break End::Closed(reason),
                        }
                    }
                }
            },
            permit = async { budget.as_mut().expect("invariant: guarded by is_some").await }, if budget.is_some() => {
                budget = None;
                let Ok(permit) = permit else {
                    break End::Closed(CloseReason::ShuttingDown);
                };
                deadline = Instant::now() + idle_limit;
                let flow = match handlers::forward_parked(&mut live, permit).await {
                    Flow::Continue => read_packets(&mut live, &mut input).await,
                    other => other,
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Disconnect => break End::Clean,
                    Flow::Close(reason) => break End::Closed(reason),
                }
            }
            read = stream.read_buf(&mut input), if live.parked.is_none() => {
                match read {
                    Ok(0) | Err(_) => break End::Lost,
                    Ok(_) => deadline = Instant::now() + idle_limit,
                }
                match read_packets(&mut live, &mut input).await {
                    Flow::Continue => {}
                    Flow::Disconnect => break End::Clean,
                    Flow::Close(reason) => break End::Closed(reason),
                }
            }
            Some(delivery) = deliveries.recv() => {
                if let Flow::Close(reason) = handlers::deliver(&mut live, delivery) {
                    break End::Closed(reason);
                }
            }
            // Not while a publish is parked: the socket is not being read then.
            _ = sleep_until(deadline), if live.parked.is_none() => {
                break End::Closed(CloseReason::KeepAliveTimeout);
            }
        }
    };
    finish(stream, live, farewell, ending).await;
}

/// What the end of a session needs from its CONNECT: the credentials are dropped once the
/// client is authenticated, rather than held for the life of the connection.
struct Farewell {
    will: Option<Will>,
    session_expiry_secs: u32,
}

/// How a session ended.
enum End {
    /// The client sent DISCONNECT.
    Clean,
    /// The connection dropped.
    Lost,
    /// The server closes it for this reason.
    Closed(CloseReason),
}

async fn finish<S>(mut stream: S, mut live: Live<'_>, connect: Farewell, ending: End)
where
    S: AsyncWrite + Unpin,
{
    let ctx = live.ctx;
    if let End::Closed(reason) = ending {
        if !matches!(
            reason,
            CloseReason::ShuttingDown
                | CloseReason::SessionTakenOver
                | CloseReason::AdministrativeAction
        ) {
            counter!(PROTOCOL_ERRORS, "reason" => format!("{reason:?}")).increment(1);
        }
        live.send(Outbound::Disconnect(reason));
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(&live.out).await?;
            stream.flush().await
        })
        .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    ctx.hub.detach(live.handle.id, live.identity.device_id);
    gauge!(CONNECTIONS).decrement(1.0);
    let departure = match ending {
        End::Clean => DisconnectReason::Clean,
        End::Lost => DisconnectReason::Lost,
        End::Closed(reason) => DisconnectReason::of_close(reason),
    };
    ctx.presence
        .disconnected(&live.identity, live.handle.id, departure);
    let will_fires = !matches!(
        ending,
        End::Clean | End::Closed(CloseReason::SessionTakenOver)
    );
    if let (true, Some(will)) = (will_fires, connect.will) {
        handlers::publish_will(&live, will).await;
    }
    if connect.session_expiry_secs > 0 {
        let expiry = Duration::from_secs(u64::from(connect.session_expiry_secs));
        ctx.sessions.keep(
            live.identity.device_id,
            std::mem::take(&mut live.state),
            expiry,
        );
    }
    live.handle.done.cancel();
    debug!(device_id = live.identity.device_id, "client disconnected");
}

/// The wait for a share of the node's outbox budget.
type BudgetWait = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>,
            > + Send,
    >,
>;

/// Handles the packets buffered in `input`, stopping at an outbox publish that has to wait
/// for room (the rest stays buffered, and the socket is not read, until it is sent).
async fn read_packets(live: &mut Live<'_>, input: &mut BytesMut) -> Flow {
    loop {
        if live.parked.is_some() {
            return Flow::Continue;
        }
        match codec::decode(live.version, input, live.ctx.limits.max_packet_size) {
            Ok(None) => return Flow::Continue,
            Ok(Some(packet)) => match handlers::handle(live, packet).await {
                Flow::Continue => {}
                other => return other,
            },
            Err(DecodeError::TooLarge(size)) => {
                warn!(
                    device_id = live.identity.device_id,
                    size, "packet too large, closing"
                );
                return Flow::Close(CloseReason::PacketTooLarge);
            }
            Err(err) => {
                warn!(device_id = live.identity.device_id, error = %err, "protocol error, closing");
                return Flow::Close(CloseReason::MalformedPacket);
            }
        }
    }
}

/// Reads until a whole CONNECT is buffered. `Ok(None)`: the peer closed first.
async fn read_connect<S>(
    stream: &mut S,
    input: &mut BytesMut,
    ctx: &EdgeContext,
) -> Result<Option<(Version, Connect)>, DecodeError>
where
    S: AsyncRead + Unpin,
{
    loop {
        if let Some(version) = codec::detect_version(input)? {
            match codec::decode(version, input, ctx.limits.max_packet_size)? {
                Some(Inbound::Connect(connect)) => return Ok(Some((version, connect))),
                Some(_) => return Err(DecodeError::Malformed),
                None => {}
            }
        }
        match stream.read_buf(input).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

async fn authenticate(
    ctx: &EdgeContext,
    connect: &Connect,
) -> Result<Identity, (ConnAckCode, &'static str)> {
    let (Some(username), Some(password)) = (&connect.username, &connect.password) else {
        return Err((ConnAckCode::BadCredentials, "no_credentials"));
    };
    match ctx.auth.authenticate(username, password).await {
        Ok(Verdict::Accepted(identity)) => Ok(identity),
        Ok(Verdict::BadCredentials) => Err((ConnAckCode::BadCredentials, "bad_credentials")),
        Ok(Verdict::Revoked) => Err((ConnAckCode::NotAuthorized, "revoked")),
        Err(err) => {
            warn!(error = %err, "accounts store unavailable, refusing a connection");
            Err((ConnAckCode::ServerUnavailable, "store_unavailable"))
        }
    }
}

async fn refuse<S>(stream: &mut S, version: Version, code: ConnAckCode, outcome: &'static str)
where
    S: AsyncWrite + Unpin,
{
    counter!(CONNECTS, "outcome" => outcome).increment(1);
    let mut out = BytesMut::new();
    codec::encode(
        version,
        Outbound::ConnAck {
            code,
            session_present: false,
            limits: None,
        },
        &mut out,
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&out).await?;
        stream.flush().await
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

async fn refuse_malformed<S>(stream: &mut S, err: DecodeError)
where
    S: AsyncWrite + Unpin,
{
    match err {
        // The client asked for a version we do not speak: say so in 3.1.1's terms, which
        // every client understands.
        DecodeError::UnsupportedVersion(_) => {
            refuse(
                stream,
                Version::V4,
                ConnAckCode::UnsupportedVersion,
                "unsupported_version",
            )
            .await;
        }
        _ => {
            counter!(PROTOCOL_ERRORS, "reason" => "malformed_connect").increment(1);
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
        }
    }
}

/// Gives back a buffer's memory after a burst: an idle connection should hold next to
/// nothing, whatever the largest packet it once carried.
fn release_if_large(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > IDLE_BUFFER {
        *buf = BytesMut::new();
    }
}

/// The keep-alive the server enforces: the client's, capped at `max`; 0 (none) means `max`.
fn effective_keep_alive(requested: u16, max: u16) -> u16 {
    if requested == 0 || requested > max {
        max
    } else {
        requested
    }
}

#[cfg(test)]
mod tests {
    use super::effective_keep_alive;

    #[test]
    fn keep_alive_is_capped_and_never_disabled() {
        assert_eq!(effective_keep_alive(30, 1200), 30);
        assert_eq!(effective_keep_alive(0, 1200), 1200);
        assert_eq!(effective_keep_alive(5000, 1200), 1200);
    }
}
