//! The HTTP listener and media processing under abuse, against the real binary (issue #13):
//! stalled HTTP clients cannot take the descriptors MQTT needs and are closed after the read
//! timeouts, and the memory of image processing follows the pixels in flight, not the number
//! of uploads.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, Rgb, RgbImage};
use natter_client::Login;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

use super::{free_addr, natter, natter_with_open_files, output};

/// A running `natter serve` with its addresses.
struct Serve {
    child: Child,
    http: String,
    mqtt: String,
}

impl Serve {
    /// Starts `natter serve` in `dir` with `env` (and, when given, an open-files limit), and
    /// waits until `/healthz` answers 200.
    async fn start(
        dir: &Path,
        open_files: Option<u64>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Serve> {
        let (http, mqtt) = (free_addr(), free_addr());
        let mut command = match open_files {
            Some(open_files) => natter_with_open_files(dir, open_files, &["serve"]),
            None => natter(dir, &["serve"]),
        };
        let log = std::fs::File::create(dir.join("server.log"))?;
        command
            .env("NATTER__HTTP__LISTEN", &http)
            .env("NATTER__MQTT__LISTEN", &mqtt)
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let mut child = command.spawn()?;
        let health = format!("http://{http}/healthz");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(&health).await
                && response.status() == 200
            {
                return Ok(Serve { child, http, mqtt });
            }
            if let Some(status) = child.try_wait()? {
                bail!("natter exited early with {status}: {}", log_tail(dir));
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "natter not healthy within 30 s: {}",
                log_tail(dir)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `natter admin user create` in `dir` (migrating first), as a login.
async fn create_user(dir: &Path, phone: &str) -> anyhow::Result<Login> {
    let (code, _, stderr) = output(natter(dir, &["migrate"])).await?;
    ensure!(code == Some(0), "natter migrate failed: {stderr}");
    let (code, stdout, stderr) =
        output(natter(dir, &["admin", "user", "create", "--phone", phone])).await?;
    ensure!(code == Some(0), "admin user create failed: {stderr}");
    Ok(Login::from_admin_json(stdout.trim())?)
}

/// Open descriptors of process `pid`.
fn open_descriptors(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// A `/proc/{pid}/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Whether an MQTT CONNECT with `login` gets a CONNACK within 5 s.
async fn connack(mqtt: &str, login: &Login) -> anyhow::Result<bool> {
    let (host, port) = mqtt.rsplit_once(':').context("mqtt address")?;
    let mut options = MqttOptions::new("while-http-is-stalled", host, port.parse()?);
    options.set_credentials(login.username.clone(), login.password.clone());
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    let acked = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    return ack.code == rumqttc::ConnectReturnCode::Success;
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    Ok(acked.unwrap_or(false))
}

/// Reads from `stream` until the server closes it (or resets it).
async fn closed_by_server(mut stream: TcpStream) {
    let mut buffer = [0u8; 1024];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            return;
        }
    }
}

/// With 512 descriptors, HTTP gets a quarter of what the reserve of 256 leaves.
const OPEN_FILES: u64 = 512;
const HTTP_SHARE: usize = 64;
const STALLED: usize = 600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http_clients_neither_starve_mqtt_nor_stay_open() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let login = create_user(dir.path(), "+15551290001").await?;
    let server = Serve::start(
        dir.path(),
        Some(OPEN_FILES),
        &[
            ("NATTER__HTTP__HEADER_READ_TIMEOUT_MS", "1000"),
            ("NATTER__HTTP__BODY_READ_TIMEOUT_MS", "1000"),
        ],
    )
    .await?;
    let pid = server.pid()?;
    let before = open_descriptors(pid)?;

    // More stalled clients than the process has descriptors: each sends half a request head.
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut stream = TcpStream::connect(&server.http).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await?;
        stalled.push(stream);
    }
    // Until the server has taken all the stalled clients it will (its HTTP share), or has
    // stopped taking more for a while: the checks below are about a server in that state.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while open_descriptors(pid)? < before + HTTP_SHARE && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    assert!(
        connack(&server.mqtt, &login).await?,
        "no CONNACK while HTTP clients stall; server log:\n{}",
        log_tail(dir.path())
    );
    let during = open_descriptors(pid)?;
    assert!(
        during <= before + HTTP_SHARE + 16,
        "the server holds {during} descriptors with stalled HTTP clients ({before} before)"
    );

    // Every stalled client is closed: a slot at a time, one header timeout each.
    let closed = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(stalled.into_iter().map(closed_by_server)),
    )
    .await;
    assert!(closed.is_ok(), "stalled HTTP clients still open after 60 s");

    // A body that stops arriving is given up after the body timeout.
    let mut slow_body = TcpStream::connect(&server.http).await?;
    slow_body
        .write_all(
            b"POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"phone\":",
        )
        .await?;
    let given_up = tokio::time::timeout(Duration::from_secs(10), closed_by_server(slow_body)).await;
    assert!(
        given_up.is_ok(),
        "a stalled body held its connection for 10 s"
    );

    // So is a keep-alive connection left idle after its answer, after the header timeout.
    let mut idle = TcpStream::connect(&server.http).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let closed = tokio::time::timeout(Duration::from_secs(10), closed_by_server(idle)).await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection stayed open 10 s"
    );

    let health = reqwest::get(format!("http://{}/healthz", server.http)).await?;
    assert_eq!(health.status(), 200);
    Ok(())
}

/// A `side`×`side` PNG of one colour (a few hundred KB that decode to `side²` pixels).
fn flat_png(side: u32, shade: u8) -> anyhow::Result<Vec<u8>> {
    let image = RgbImage::from_pixel(side, side, Rgb([shade, 100, 200]));
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Sub).write_image(
        image.as_raw(),
        side,
        side,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(png)
}

const SIDE: u32 = 3000;
const UPLOADS: u8 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_memory_follows_the_pixels_in_flight() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let login = create_user(dir.path(), "+15551290101").await?;
    let one_image = (u64::from(SIDE) * u64::from(SIDE)).to_string();
    // Three processing slots, but pixels for one image at a time.
    let server = Serve::start(
        dir.path(),
        None,
        &[
            ("NATTER__MEDIA__PROCESSING_CONCURRENCY", "3"),
            ("NATTER__MEDIA__MAX_PIXELS_IN_FLIGHT", one_image.as_str()),
        ],
    )
    .await?;
    let pid = server.pid()?;
    let pngs = (0..UPLOADS)
        .map(|shade| flat_png(SIDE, shade))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let http = reqwest::Client::new();
    let baseline_kb = status_kb(pid, "VmRSS")?;

    let uploads = pngs.into_iter().map(|png| {
        http.post(format!("http://{}/v1/media?kind=image", server.http))
            .basic_auth(&login.username, Some(&login.password))
            .body(png)
            .send()
    });
    let answers = futures_util::future::join_all(uploads).await;

    for answer in answers {
        let answer = answer?;
        assert_eq!(answer.status(), 201, "{}", answer.text().await?);
    }
    let peak_kb = status_kb(pid, "VmHWM")?;
    let grown_mb = peak_kb.saturating_sub(baseline_kb) / 1024;
    // One 3000×3000 image costs about 130 MB to decode and scale (27 MB of pixels and a
    // 98 MB scaling buffer); three at once cost three times that.
    eprintln!(
        "{UPLOADS} concurrent {SIDE}x{SIDE} uploads: RSS peak {grown_mb} MB above the baseline"
    );
    assert!(
        grown_mb < 250,
        "RSS grew by {grown_mb} MB for {UPLOADS} uploads with pixels for one in flight"
    );
    Ok(())
}
