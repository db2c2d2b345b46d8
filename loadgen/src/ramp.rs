//! The ramp: opens connections up to a target count with a bounded number of connects in
//! flight, keeps every accepted socket open, and records how long each took and why any
//! failed. It stops early, rather than hang, once failures pass a limit.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::net::TcpStream;

use crate::mqtt::{self, Failure};
use crate::provision::Device;

/// How the ramp connects; fixed for a run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// The server's MQTT address.
    pub(crate) server: SocketAddr,
    /// Source addresses used in turn; empty: the kernel's choice.
    pub(crate) sources: Vec<Ipv4Addr>,
    /// Keep-alive announced in CONNECT, seconds.
    pub(crate) keep_alive_secs: u16,
    /// Deadline of one connection, TCP connect to CONNACK.
    pub(crate) connect_timeout: Duration,
    /// Connects in flight at once.
    pub(crate) concurrency: usize,
    /// Failures (over the whole run) after which no new connects start.
    pub(crate) max_failures: usize,
}

/// What one step of the ramp did.
#[derive(Debug, Default)]
pub(crate) struct Step {
    /// The connection count the step aimed for.
    pub(crate) target: usize,
    /// Connections accepted in this step.
    pub(crate) accepted: usize,
    /// Wall time of the step.
    pub(crate) elapsed: Duration,
    /// Time from TCP connect to CONNACK of each accepted connection, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Failures in this step, by kind: count and the first message.
    pub(crate) failures: BTreeMap<String, (usize, String)>,
}

impl Step {
    /// Failures in this step.
    pub(crate) fn failure_count(&self) -> usize {
        self.failures.values().map(|(count, _)| count).sum()
    }

    /// CONNACKs per second over the step.
    pub(crate) fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at `quantile` (0.0 to 1.0), if any connection was accepted.
    pub(crate) fn latency(&self, quantile: f64) -> Option<Duration> {
        let last = self.latencies.len().checked_sub(1)?;
        // The nearest rank; `as` saturates, and the quantile keeps it within 0..=last.
        let index = ((last as f64) * quantile).round() as usize;
        self.latencies.get(index.min(last)).copied()
    }
}

/// The open connections and where the ramp stands.
pub(crate) struct Ramp {
    plan: Plan,
    devices: Vec<Device>,
    next_device: usize,
    failures: usize,
    open: Vec<TcpStream>,
}

impl Ramp {
    /// A ramp over `devices` (each is used once, in order).
    pub(crate) fn new(plan: Plan, devices: Vec<Device>) -> Ramp {
        Ramp {
            plan,
            devices,
            next_device: 0,
            failures: 0,
            open: Vec::new(),
        }
    }

    /// Connections accepted so far and still held.
    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Whether the failure limit stopped the ramp.
    pub(crate) fn gave_up(&self) -> bool {
        self.failures >= self.plan.max_failures
    }

    /// How many held connections the server has closed (or sent something on) since they
    /// were accepted.
    pub(crate) fn count_closed(&self) -> usize {
        self.open
            .iter()
            .filter(|stream| !mqtt::is_open(stream))
            .count()
    }

    /// Closes every held connection.
    pub(crate) fn close_all(&mut self) {
        self.open.clear();
    }

    /// Opens connections until `target` are held, the devices run out, or failures reach the
    /// limit; waits for the connects in flight either way.
    pub(crate) async fn ramp_to(&mut self, target: usize) -> Step {
        let mut step = Step {
            target,
            ..Step::default()
        };
        let started = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.plan.concurrency
                && self.open.len() + in_flight.len() < target
                && !self.gave_up()
                && self.next_device < self.devices.len()
            {
                in_flight.push(self.start_next());
            }
            let Some((latency, outcome)) = in_flight.next().await else {
                break;
            };
            match outcome {
                Ok(stream) => {
                    self.open.push(stream);
                    step.accepted += 1;
                    step.latencies.push(latency);
                }
                Err(failure) => {
                    self.failures += 1;
                    let entry = step
                        .failures
                        .entry(failure.kind())
                        .or_insert_with(|| (0, failure.to_string()));
                    entry.0 += 1;
                }
            }
        }
        step.elapsed = started.elapsed();
        step.latencies.sort_unstable();
        step
    }

    /// Starts the connect of the next device, from the next source address.
    fn start_next(
        &mut self,
    ) -> impl Future<Output = (Duration, Result<TcpStream, Failure>)> + use<> {
        let index = self.next_device;
        self.next_device += 1;
        let device = self.devices[index].clone();
        let source = (!self.plan.sources.is_empty())
            .then(|| self.plan.sources[index % self.plan.sources.len()]);
        let (server, timeout, keep_alive_secs) = (
            self.plan.server,
            self.plan.connect_timeout,
            self.plan.keep_alive_secs,
        );
        async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                timeout,
                mqtt::connect(server, source, &device, keep_alive_secs),
            )
            .await
            .unwrap_or(Err(Failure::Timeout));
            (started.elapsed(), outcome)
        }
    }
}
