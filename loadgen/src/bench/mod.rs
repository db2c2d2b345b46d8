//! `natter-loadgen report`: one command for docs/BENCHMARKS.md. It starts natter itself (a
//! fresh SQLite data directory, then a fresh PostgreSQL database when asked), runs every
//! scenario against it, runs the chat sweep against the plain baseline broker, stops natter
//! after each backend, and writes the Markdown report and the latency plot.

mod machine;
mod markdown;
mod plan;
mod plot;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::chat::{self, ChatParams, ChatResult};
use crate::cli::ReportArgs;
use crate::connections::ConnectionsResult;
use crate::fanout::FanoutResult;
use crate::resume::{ResumeParams, ResumeResult};
use crate::{connections, database, fanout, provision, resume};

pub(crate) use machine::Machine;
pub(crate) use plan::Plan;
use server::Server;

/// A chat rate sweep on one server, and the run at half its peak.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sweep {
    /// The steps, in rising offered rate.
    pub(crate) steps: Vec<ChatResult>,
    /// The run at half the peak delivered rate (natter only).
    pub(crate) half_peak: Option<ChatResult>,
}

impl Sweep {
    /// The highest delivered rate of any step.
    pub(crate) fn peak(&self) -> f64 {
        self.steps.iter().map(ChatResult::rate).fold(0.0, f64::max)
    }

    /// Whether the last step fell behind, i.e. the peak was reached.
    pub(crate) fn saturated(&self) -> bool {
        self.steps.last().is_some_and(|step| !step.kept_up())
    }

    /// The step offered at `rate`, if any.
    pub(crate) fn at(&self, rate: u64) -> Option<&ChatResult> {
        self.steps.iter().find(|step| step.offered == rate)
    }
}

/// Everything measured on one database backend.
#[derive(Debug)]
pub(crate) struct BackendReport {
    /// `SQLite` or `PostgreSQL`.
    pub(crate) name: &'static str,
    /// The connections ramp, when run on this backend.
    pub(crate) connections: Option<ConnectionsResult>,
    /// The chat sweep.
    pub(crate) chat: Sweep,
    /// Fan-out, one result per group size.
    pub(crate) fanout: Vec<FanoutResult>,
    /// The resume scenario.
    pub(crate) resume: ResumeResult,
}

/// The whole report.
#[derive(Debug)]
pub(crate) struct Report {
    /// Where and when.
    pub(crate) machine: Machine,
    /// The command that produced it.
    pub(crate) command: String,
    /// The sizes used.
    pub(crate) plan: Plan,
    /// The baseline broker's address and sweep.
    pub(crate) baseline: (String, Sweep),
    /// One per backend, SQLite first.
    pub(crate) backends: Vec<BackendReport>,
    /// Wall time of each part, in order.
    pub(crate) timings: Vec<(String, Duration)>,
}

/// Runs everything and writes the report.
///
/// # Errors
/// When natter cannot be started, a scenario fails, the baseline broker does not answer, or
/// the files cannot be written. A resume that lost or duplicated messages is written into the
/// report first and then returned as an error.
pub(crate) async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let natter = natter_binary(args.natter.as_deref())?;
    let out_dir = args
        .out
        .parent()
        .filter(|dir| dir.is_dir())
        .unwrap_or(Path::new("."));
    let machine = Machine::read(out_dir);
    let plan = Plan::new(&args, &machine);
    let command = args.command_line.clone().unwrap_or_else(|| {
        std::env::args()
            .map(|arg| shell_word(&arg))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let svg = args.out.parent().map_or_else(
        || PathBuf::from("benchmarks-latency.svg"),
        |dir| dir.join("benchmarks-latency.svg"),
    );
    let mut timings = Vec::new();

    eprintln!(
        "== baseline: chat sweep on the plain broker {}",
        args.baseline
    );
    let at = Instant::now();
    let broker = args.baseline;
    let baseline = sweep(
        &plan,
        |params| async move { chat::measure_plain(broker, &params).await },
        false,
    )
    .await
    .with_context(|| format!("the baseline broker at {}", args.baseline))?;
    timings.push((
        format!("chat sweep, plain broker {}", args.baseline),
        at.elapsed(),
    ));

    let mut backends = vec![backend(&natter, "SQLite", None, true, &plan, &mut timings).await?];
    if let Some(maintenance) = &args.postgres_url {
        let url = server::fresh_postgres(maintenance, &args.postgres_db).await?;
        let measured = backend(
            &natter,
            "PostgreSQL",
            Some(&url),
            args.postgres_connections,
            &plan,
            &mut timings,
        )
        .await;
        let dropped = server::drop_postgres(maintenance, &args.postgres_db).await;
        backends.push(measured?);
        dropped?;
    }
    timings.push(("total".to_owned(), started.elapsed()));

    let report = Report {
        machine,
        command,
        plan,
        baseline: (args.baseline.to_string(), baseline),
        backends,
        timings,
    };
    plot::draw(&svg, &markdown::curves(&report))?;
    let text = markdown::render(&report);
    if let Some(dir) = args.out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} and {} in {:.0} s",
        args.out.display(),
        svg.display(),
        started.elapsed().as_secs_f64()
    );
    for backend in &report.backends {
        backend
            .resume
            .check()
            .with_context(|| format!("on {}", backend.name))?;
    }
    Ok(())
}

/// Every scenario on one backend, against a natter started for it.
async fn backend(
    natter: &Path,
    name: &'static str,
    database_url: Option<&str>,
    with_connections: bool,
    plan: &Plan,
    timings: &mut Vec<(String, Duration)>,
) -> anyhow::Result<BackendReport> {
    eprintln!("== {name}: starting {}", natter.display());
    let server = Server::start(natter, database_url).await?;
    let outcome = scenarios(&server, name, with_connections, plan, timings).await;
    let stopped = server.stop().await;
    let report = outcome?;
    stopped?;
    Ok(report)
}

async fn scenarios(
    server: &Server,
    name: &'static str,
    with_connections: bool,
    plan: &Plan,
    timings: &mut Vec<(String, Duration)>,
) -> anyhow::Result<BackendReport> {
    let db = database::connect(&server.database).await?;
    let mut timed =
        |part: &str, at: Instant| timings.push((format!("{part}, {name}"), at.elapsed()));

    let connections = if with_connections {
        eprintln!("== {name}: connections {:?}", plan.connection_steps);
        let at = Instant::now();
        let args = plan.connections_args(server);
        let result = connections::measure(&db, &args, server.pid).await?;
        timed("connections", at);
        Some(result)
    } else {
        None
    };

    eprintln!("== {name}: chat sweep");
    let at = Instant::now();
    let (db_ref, mqtt, pid) = (&db, server.mqtt, server.pid);
    let chat = sweep(
        plan,
        |params| async move {
            server::wait_idle(pid).await;
            chat::measure_natter(db_ref, mqtt, &params).await
        },
        true,
    )
    .await?;
    timed("chat sweep and half peak", at);

    eprintln!("== {name}: fan-out {:?}", plan.fanout_members);
    let at = Instant::now();
    let mut fanouts = Vec::new();
    for &members in &plan.fanout_members {
        server::wait_idle(server.pid).await;
        let result = fanout::measure(&db, server.mqtt, members, plan.fanout_messages).await;
        let removed = provision::remove_all(&db).await;
        fanouts.push(result?);
        removed?;
    }
    timed("fan-out", at);

    eprintln!(
        "== {name}: resume, {} devices x {} messages",
        plan.resume_devices, plan.resume_messages
    );
    let at = Instant::now();
    let params = ResumeParams {
        server: server.mqtt,
        devices: plan.resume_devices,
        messages: plan.resume_messages,
        senders: 10,
        window: 50,
        timeout: Duration::from_secs(300),
    };
    server::wait_idle(server.pid).await;
    let result = resume::measure(&db, &params).await;
    let removed = provision::remove_all(&db).await;
    let resume = result?;
    removed?;
    timed("resume", at);
    eprintln!("{}\n{}", resume::TABLE_HEADER, resume::table_row(&resume));
    Ok(BackendReport {
        name,
        connections,
        chat,
        fanout: fanouts,
        resume,
    })
}

/// Doubles the offered rate from the plan's start until delivery falls behind (or the plan's
/// steps run out); with `half_peak`, then runs once at half the peak delivered rate.
async fn sweep<F, Fut>(plan: &Plan, mut measure: F, half_peak: bool) -> anyhow::Result<Sweep>
where
    F: FnMut(ChatParams) -> Fut,
    Fut: Future<Output = anyhow::Result<ChatResult>>,
{
    let mut result = Sweep::default();
    for step in 0..plan.chat_steps {
        let params = ChatParams {
            pairs: plan.chat_pairs,
            total_rate: plan.chat_start_rate << step,
            duration: plan.chat_duration,
            body_bytes: 20,
        };
        let measured = measure(params).await?;
        eprintln!("{}", chat::table_row("", &measured));
        let kept_up = measured.kept_up();
        result.steps.push(measured);
        if !kept_up {
            break;
        }
    }
    if half_peak {
        let rate = (result.peak() / 2.0).round().max(1.0) as u64;
        let params = ChatParams {
            pairs: plan.chat_pairs,
            total_rate: rate,
            duration: plan.chat_duration,
            body_bytes: 20,
        };
        let measured = measure(params).await?;
        eprintln!("{} (half peak)", chat::table_row("", &measured));
        result.half_peak = Some(measured);
    }
    if result.steps.is_empty() {
        bail!("the chat sweep has no steps (--chat-steps 0)");
    }
    Ok(result)
}

/// `--natter`, or `natter` next to this executable.
fn natter_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let me = std::env::current_exe().context("finding this executable")?;
    let dir = me.parent().context("this executable has no directory")?;
    Ok(dir.join("natter"))
}

/// `arg` quoted for a shell when it needs it.
fn shell_word(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}
