//! What the load generator reads about the server process from `/proc` (Linux only): which
//! process listens on a port, its resident memory, its descriptor limit and use.

use std::fs;
use std::time::Duration;

use anyhow::{Context, bail};

/// The id of the process that has a TCP socket listening on `port` (IPv4 or IPv6).
///
/// # Errors
/// When no listening socket on that port is found in `/proc/net/tcp{,6}`, or no process
/// visible to this user holds it.
pub(crate) fn find_listening_pid(port: u16) -> anyhow::Result<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(
            text.lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port)),
        );
    }
    if inodes.is_empty() {
        bail!("nothing listens on TCP port {port}");
    }
    let wanted: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    for entry in fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes of other users, or ones that exit meanwhile, are skipped.
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = fs::read_link(fd.path())
                && wanted
                    .iter()
                    .any(|socket| target.as_os_str() == socket.as_str())
            {
                return Ok(pid);
            }
        }
    }
    bail!("no visible process holds the socket listening on port {port}; pass --server-pid")
}

/// The resident set size of process `pid`, in bytes (`VmRSS` in `/proc/<pid>/status`).
///
/// # Errors
/// When the process is gone or the field is missing.
pub(crate) fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (has the server exited?)"))?;
    let kib =
        kib_field(&status, "VmRSS:").with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib * 1024)
}

/// The value of a `Name:   1234 kB` line of a `/proc` file (`status`, `meminfo`), in KiB.
pub(crate) fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) process `pid` has used so far, `None` when unreadable.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    // utime and stime are fields 14 and 15 of the line, so 12th and 13th after the name.
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let user_ticks: u64 = fields.next()?.parse().ok()?;
    let system_ticks: u64 = fields.next()?.parse().ok()?;
    // /proc reports in USER_HZ, which is 100 on every Linux architecture.
    Some(Duration::from_millis((user_ticks + system_ticks) * 10))
}

/// The soft open-files limit of process `pid`, `None` when unlimited or unreadable.
pub(crate) fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many descriptors process `pid` has open, `None` when unreadable.
pub(crate) fn open_files(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The inode of the socket on one line of `/proc/net/tcp*` if it listens on `port`.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    // Fields: sl, local_address (hex ip:hex port), rem_address, st, queues, tr, retrnsmt,
    // uid, timeout, inode.
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local_port = fields.get(1)?.rsplit_once(':')?.1;
    let listening = *fields.get(3)? == "0A";
    let matches = u16::from_str_radix(local_port, 16).ok()? == port;
    (listening && matches).then(|| fields.get(9)?.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listening_sockets_by_port() {
        let line = "   0: 00000000:075B 00000000:0000 0A 00000000:00000000 00:00000000 \
                    00000000     0        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(line, 1883), Some(123_456));
        assert_eq!(listening_inode(line, 1884), None);
        let established = line.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 1883), None);
    }

    #[test]
    fn reads_this_process_rss_and_finds_its_own_listener() {
        assert!(rss_bytes(std::process::id()).expect("reading own rss") > 0);
        assert!(cpu_time(std::process::id()).is_some());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
        let port = listener.local_addr().expect("local address").port();
        assert_eq!(
            find_listening_pid(port).expect("finding own listener"),
            std::process::id()
        );
    }
}
