//! The sizes a report runs at: the full defaults, `--quick`, and any override, plus the
//! connection steps the descriptor limits allow.

use std::time::Duration;

use crate::cli::{ConnectionsArgs, DatabaseArgs, ReportArgs};

use super::{Machine, Server};

/// Descriptors each process keeps besides its connections.
const SPARE_DESCRIPTORS: u64 = 100;
/// The connection counts issue #8 asks for.
pub(crate) const WANTED_CONNECTIONS: [usize; 4] = [1_000, 10_000, 50_000, 100_000];

/// What a report runs.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Whether this is the `--quick` version.
    pub(crate) quick: bool,
    /// Connection counts to ramp to.
    pub(crate) connection_steps: Vec<usize>,
    /// The most connections this machine's descriptor limits allow.
    pub(crate) connection_ceiling: usize,
    /// Pause after each ramp step before sampling the server.
    pub(crate) settle: Duration,
    /// Chat pairs.
    pub(crate) chat_pairs: usize,
    /// Total offered msg/s of the first sweep step.
    pub(crate) chat_start_rate: u64,
    /// Most sweep steps.
    pub(crate) chat_steps: usize,
    /// How long each step sends.
    pub(crate) chat_duration: Duration,
    /// Fan-out group sizes.
    pub(crate) fanout_members: Vec<usize>,
    /// Messages to each group.
    pub(crate) fanout_messages: usize,
    /// Resume devices.
    pub(crate) resume_devices: usize,
    /// Messages per resume device.
    pub(crate) resume_messages: usize,
}

impl Plan {
    /// The plan for `args` on `machine`.
    pub(crate) fn new(args: &ReportArgs, machine: &Machine) -> Plan {
        let quick = args.quick;
        // The soft limit after the raise: what this process and the server it starts get.
        let ceiling =
            usize::try_from(machine.open_files.0.saturating_sub(SPARE_DESCRIPTORS) / 100 * 100)
                .unwrap_or(usize::MAX);
        let connection_steps = args.connection_steps.clone().unwrap_or_else(|| {
            if quick {
                vec![50]
            } else {
                let mut steps: Vec<usize> = WANTED_CONNECTIONS
                    .into_iter()
                    .filter(|&n| n < ceiling)
                    .collect();
                if ceiling < WANTED_CONNECTIONS[WANTED_CONNECTIONS.len() - 1] {
                    steps.push(ceiling);
                }
                steps
            }
        });
        Plan {
            quick,
            connection_steps,
            connection_ceiling: ceiling,
            settle: Duration::from_millis(if quick { 200 } else { 2_000 }),
            chat_pairs: args.chat_pairs.unwrap_or(if quick { 4 } else { 50 }).max(1),
            chat_start_rate: args
                .chat_start_rate
                .unwrap_or(if quick { 100 } else { 500 })
                .max(1),
            chat_steps: args.chat_steps.unwrap_or(if quick { 1 } else { 7 }),
            chat_duration: Duration::from_secs(args.chat_secs.unwrap_or(if quick {
                1
            } else {
                10
            })),
            fanout_members: args
                .fanout_members
                .clone()
                .unwrap_or_else(|| if quick { vec![3] } else { vec![10, 100, 1000] }),
            fanout_messages: if quick { 3 } else { 30 },
            resume_devices: args.resume_devices.unwrap_or(if quick { 5 } else { 1000 }),
            resume_messages: args.resume_messages.unwrap_or(if quick { 3 } else { 100 }),
        }
    }

    /// The `connections` arguments for a ramp against `server`.
    pub(crate) fn connections_args(&self, server: &Server) -> ConnectionsArgs {
        ConnectionsArgs {
            database: DatabaseArgs {
                database_url: server.database.database_url.clone(),
                data_dir: server.database.data_dir.clone(),
            },
            server: server.mqtt,
            steps: self.connection_steps.clone(),
            concurrency: 128,
            source_addrs: 8,
            keep_alive_secs: 600,
            connect_timeout_ms: 10_000,
            max_failures: 200,
            server_pid: Some(server.pid),
            settle_ms: u64::try_from(self.settle.as_millis()).unwrap_or(u64::MAX),
            hold_secs: 0,
            keep_devices: false,
        }
    }
}
