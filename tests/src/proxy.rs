//! A TCP proxy for fault tests that black-holes rather than cuts: on command it stops
//! forwarding in both directions without closing any socket (as a network partition looks
//! from either end: connections stay open and silent), then either resumes every connection
//! or lets only new ones through (the old ones stay silent forever, as connections whose
//! peer forgot them). Tokio only, so that the binary's tests can include it by path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What passes: connections accepted in an epoch before `stale_before` never pass again;
/// the others pass unless `black_hole` is set.
#[derive(Clone, Copy, Debug, Default)]
struct Rule {
    black_hole: bool,
    epoch: u64,
    stale_before: u64,
}

impl Rule {
    fn passes(self, born: u64) -> bool {
        !self.black_hole && born >= self.stale_before
    }
}

/// A running proxy; dropping it stops accepting (open connections end with the runtime).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    rule: watch::Sender<Rule>,
    accept: tokio::task::JoinHandle<()>,
    /// Bytes read while they could not pass (held back by the black hole).
    held: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`
    /// (`host:port`).
    ///
    /// # Errors
    /// When it cannot listen.
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (rule, _) = watch::channel(Rule::default());
        let rules = rule.clone();
        let upstream = upstream.to_owned();
        let held = Arc::new(AtomicU64::new(0));
        let counter = held.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let born = rules.borrow().epoch;
                let (rules, upstream) = (rules.subscribe(), upstream.clone());
                let held = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pump(client_read, server_write, rules.clone(), born, held.clone());
                    let down = pump(server_read, client_write, rules, born, held);
                    tokio::join!(up, down);
                });
            }
        });
        Ok(Proxy {
            addr,
            rule,
            accept,
            held,
        })
    }

    /// Bytes that arrived while they could not pass: traffic caught in the black hole.
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops forwarding on every connection, old and new; nothing is closed.
    pub fn black_hole(&self) {
        self.rule.send_modify(|rule| rule.black_hole = true);
    }

    /// Forwards again on every connection (what was held back is delivered).
    pub fn resume(&self) {
        self.rule.send_modify(|rule| rule.black_hole = false);
    }

    /// Forwards on connections opened from now on; those open now stay silent forever.
    pub fn heal_new_only(&self) {
        self.rule.send_modify(|rule| {
            rule.black_hole = false;
            rule.epoch += 1;
            rule.stale_before = rule.epoch;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to` while the rule lets a connection born in epoch `born` pass; what is
/// read meanwhile waits (as data in flight would).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rules: watch::Receiver<Rule>,
    born: u64,
    held: Arc<AtomicU64>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => 0,
            Ok(read) => read,
        };
        if read > 0 && !rules.borrow().passes(born) {
            held.fetch_add(read as u64, Ordering::Relaxed);
        }
        // A silent connection never passes on anything, not even its end.
        if rules.wait_for(|rule| rule.passes(born)).await.is_err() {
            return;
        }
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
