//! What a report says about where and when it ran: the date, the git commit, the CPU, memory,
//! kernel and descriptor limits, all read at run time.

use std::path::Path;
use std::process::Command;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The run's surroundings.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    /// UTC date and time, `YYYY-MM-DD HH:MM UTC`.
    pub(crate) date: String,
    /// `git rev-parse --short HEAD`, plus ` (dirty)` when the tree has changes.
    pub(crate) commit: String,
    /// CPU model from /proc/cpuinfo.
    pub(crate) cpu: String,
    /// Logical CPUs.
    pub(crate) cpus: usize,
    /// Total memory, GiB.
    pub(crate) memory_gib: f64,
    /// Kernel release.
    pub(crate) kernel: String,
    /// Soft and hard open-files limits of this process at start.
    pub(crate) open_files: (u64, u64),
    /// Why the hard open-files limit cannot be raised, when it cannot.
    pub(crate) raise_refused: Option<String>,
    /// `rustc --version`, when rustc is on PATH.
    pub(crate) rustc: Option<String>,
}

impl Machine {
    /// Reads everything now; the git commit is that of the checkout holding `near` (the
    /// report's directory), else of the current directory.
    pub(crate) fn read(near: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let cpus = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count()
            .max(1);
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| crate::server::kib_field(&text, "MemTotal:"))
            .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
        let raise_refused = raise_hard_limit(WANTED_OPEN_FILES);
        let open_files = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((0, 0));
        Machine {
            date: utc_now(),
            commit: commit(near),
            cpu,
            cpus,
            memory_gib,
            kernel,
            open_files,
            raise_refused,
            rustc: output("rustc", &["--version"]),
        }
    }
}

/// Descriptors 100k connections need in one process, with some to spare.
pub(crate) const WANTED_OPEN_FILES: u64 = 100_000 + 1_000;

/// Raises this process's open-files limits (soft and hard) to `wanted` when they are lower;
/// the server started afterwards inherits them. The error when the kernel refuses.
fn raise_hard_limit(wanted: u64) -> Option<String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= wanted {
        return None;
    }
    let hard_wanted = hard.max(wanted);
    match setrlimit(Resource::RLIMIT_NOFILE, wanted, hard_wanted) {
        Ok(()) => None,
        Err(err) => {
            // Keep what can be had: the soft limit up to the hard one.
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            Some(format!(
                "setrlimit(RLIMIT_NOFILE, {wanted}) failed: {err} (raising the hard limit needs CAP_SYS_RESOURCE)"
            ))
        }
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    output_in(None, program, args)
}

fn output_in(dir: Option<&Path>, program: &str, args: &[&str]) -> Option<String> {
    let mut command = Command::new(program);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn commit(near: &Path) -> String {
    let dir = [Some(near), None]
        .into_iter()
        .find(|dir| output_in(*dir, "git", &["rev-parse", "--git-dir"]).is_some())
        .flatten();
    let Some(hash) = output_in(dir, "git", &["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".to_owned();
    };
    match output_in(
        dir,
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
    ) {
        Some(changes) if !changes.is_empty() => format!("{hash} (dirty)"),
        _ => hash,
    }
}

/// Now as `YYYY-MM-DD HH:MM UTC`, from the system clock (civil-from-days, no time crate).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// Howard Hinnant's algorithm: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_days_to_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
