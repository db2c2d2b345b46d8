//! Interoperability with clients nobody here wrote: Debian's `mosquitto_pub` and
//! `mosquitto_sub` (package mosquitto-clients, which `.ci/run` installs), in MQTT 3.1.1 and 5,
//! over TCP and TLS. Debian builds them without WebSocket support, so WebSocket interop is
//! covered by `transport` with tungstenite as the client instead.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use natter_tests::mqtt::{ClientV4, Login, connect_v4, unstamped};
use natter_tests::{TestApp, scenario, spawn_app, spawn_app_with};
use rumqttc::{Packet, QoS};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::transport::TestCertificate;

/// How long one mosquitto client may run.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(10);
/// The protocol versions, as mosquitto's `-V` names them.
const VERSIONS: [&str; 2] = ["mqttv311", "mqttv5"];

/// The exit code of `stdbuf` when it cannot find the program.
const NOT_FOUND: i32 = 127;

/// A mosquitto client command that connects to `addr` as `login` with protocol `version`.
fn mosquitto(program: &str, addr: SocketAddr, login: &Login, version: &str) -> Command {
    // Line-buffered: into a pipe, mosquitto's output would arrive only at exit, and the
    // tests react to single lines (e.g. waiting for the SUBACK before publishing).
    let mut command = Command::new("stdbuf");
    command
        .args(["-oL", program])
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-V", version, "-u", &login.username, "-P", &login.password])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a finished mosquitto client said.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `command` to completion.
async fn run(mut command: Command) -> anyhow::Result<Outcome> {
    let output = tokio::time::timeout(PROCESS_TIMEOUT, command.output())
        .await
        .context("the mosquitto client did not finish in time")?
        .context("starting a mosquitto client")?;
    anyhow::ensure!(
        output.status.code() != Some(NOT_FOUND),
        "mosquitto-clients is not installed (.ci/run installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Outcome {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A running `mosquitto_sub -d`, read line by line.
struct Subscriber {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Subscriber {
    fn spawn(mut command: Command) -> anyhow::Result<Subscriber> {
        let mut child = command.spawn().context("starting mosquitto_sub")?;
        let stdout = child.stdout.take().context("mosquitto_sub has no stdout")?;
        Ok(Subscriber {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        })
    }

    /// Reads output until a line contains `needle`.
    async fn wait_for(&mut self, needle: &str) -> anyhow::Result<()> {
        let found = tokio::time::timeout(PROCESS_TIMEOUT, async {
            while let Some(line) = self.lines.next_line().await? {
                let hit = line.contains(needle);
                self.seen.push(line);
                if hit {
                    return Ok(true);
                }
            }
            anyhow::Ok(false)
        })
        .await
        .with_context(|| format!("waiting for {needle:?}; so far {:?}", self.seen))??;
        anyhow::ensure!(
            found,
            "mosquitto_sub ended before {needle:?}: {:?}",
            self.seen
        );
        Ok(())
    }

    /// Waits for the process to end and returns everything it printed.
    async fn finish(mut self) -> anyhow::Result<Outcome> {
        tokio::time::timeout(PROCESS_TIMEOUT, async {
            while let Some(line) = self.lines.next_line().await? {
                self.seen.push(line);
            }
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                pipe.read_to_string(&mut stderr).await?;
            }
            let status = self.child.wait().await?;
            anyhow::ensure!(
                status.code() != Some(NOT_FOUND),
                "mosquitto-clients is not installed (.ci/run installs it): {stderr}"
            );
            Ok(Outcome {
                status,
                stdout: self.seen.join("\n"),
                stderr,
            })
        })
        .await
        .with_context(|| format!("mosquitto_sub did not end; it printed {:?}", self.seen))?
    }
}

/// The service user on the internal listener, subscribed to every user's outbox.
async fn service_watching_outboxes(app: &TestApp) -> anyhow::Result<ClientV4> {
    let mut service = connect_v4(app.settings.mqtt.internal_listen, &app.service_login());
    service
        .client
        .subscribe("u/+/out/+", QoS::AtLeastOnce)
        .await?;
    service
        .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
        .await?;
    Ok(service)
}

/// `mosquitto_pub -q 1` to the user's outbox; returns what the service received.
async fn publish_to_outbox(
    app: &TestApp,
    service: &mut ClientV4,
    login: &Login,
    user_id: i64,
    version: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<rumqttc::Publish> {
    let payload = format!("hello from mosquitto {version}");
    let mut publish = mosquitto("mosquitto_pub", app.mqtt_addr(), login, version);
    publish.args([
        "-d",
        "-q",
        "1",
        "-t",
        &format!("u/{user_id}/out"),
        "-m",
        &payload,
    ]);
    if let Some(ca_file) = ca_file {
        publish.arg("--cafile").arg(ca_file);
    }
    let outcome = run(publish).await?;
    anyhow::ensure!(
        outcome.status.success(),
        "mosquitto_pub failed: {outcome:?}"
    );
    anyhow::ensure!(
        outcome.stdout.contains("received PUBACK"),
        "no PUBACK: {outcome:?}"
    );
    let mut received = service.next_publish().await?;
    // Service clients see the edge's timing stamp in front, as the bridge does.
    received.payload = unstamped(&received.payload)?;
    anyhow::ensure!(
        received.payload == payload.as_bytes(),
        "the service received {received:?}"
    );
    Ok(received)
}

scenario!(
    mosquitto_clients_are_refused_wrong_passwords_and_foreign_filters,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let wrong = Login {
            username: ada.mqtt_username.clone(),
            password: "not-the-password".into(),
        };

        for version in VERSIONS {
            let mut refused = mosquitto("mosquitto_sub", app.mqtt_addr(), &wrong, version);
            refused.args(["-t", &format!("u/{}/inbox", ada.user_id)]);
            let outcome = run(refused).await?;
            assert!(!outcome.status.success(), "{version}: {outcome:?}");
            assert!(
                outcome
                    .stderr
                    .to_lowercase()
                    .contains("bad user name or password"),
                "{version}: {outcome:?}"
            );

            // mosquitto_sub reports a refused filter (SUBACK 0x80 in 3.1.1, 0x87 "not
            // authorized" in 5), then gives up and disconnects by itself.
            let mut everything = mosquitto(
                "mosquitto_sub",
                app.mqtt_addr(),
                &Login::from(&ada),
                version,
            );
            everything.args(["-d", "-t", "#"]);
            let outcome = run(everything).await?;
            let code = if version == "mqttv5" { 0x87 } else { 0x80 };
            assert!(
                outcome
                    .stdout
                    .contains(&format!("Subscribed (mid: 1): {code}")),
                "{version}: {outcome:?}"
            );
            assert!(
                outcome
                    .stderr
                    .contains("All subscription requests were denied"),
                "{version}: {outcome:?}"
            );
        }
        app.stop().await
    }
);

scenario!(mosquitto_clients_round_trip_qos1_messages, |services| {
    let app = spawn_app(&services).await?;
    let ada = app.create_user("+15551230001").await?;
    let login = Login::from(&ada);
    let mut service = service_watching_outboxes(&app).await?;

    for version in VERSIONS {
        // Client to service: acknowledged by the edge, received by the service.
        let received =
            publish_to_outbox(&app, &mut service, &login, ada.user_id, version, None).await?;
        // The edge stamps the sending device into the outbox topic.
        assert_eq!(
            received.topic,
            format!("u/{}/out/{}", ada.user_id, ada.device_id)
        );

        // Service to client: mosquitto_sub prints the delivery and acknowledges it.
        let mut subscribe = mosquitto("mosquitto_sub", app.mqtt_addr(), &login, version);
        subscribe.args(["-d", "-q", "1", "-C", "1", "-W", "10"]);
        subscribe.args(["-t", &format!("u/{}/inbox", ada.user_id)]);
        let mut subscriber = Subscriber::spawn(subscribe)?;
        subscriber.wait_for("received SUBACK").await?;
        let payload = format!("for mosquitto {version}");
        service
            .client
            .publish(
                format!("u/{}/inbox", ada.user_id),
                QoS::AtLeastOnce,
                false,
                payload.clone(),
            )
            .await?;
        let outcome = subscriber.finish().await?;

        assert!(outcome.status.success(), "{version}: {outcome:?}");
        assert!(
            outcome.stdout.lines().any(|line| line == payload),
            "{version}: {outcome:?}"
        );
        assert!(
            outcome.stdout.contains("received PUBLISH (d0, q1"),
            "{version}: {outcome:?}"
        );
        assert!(
            outcome.stdout.contains("sending PUBACK"),
            "{version}: {outcome:?}"
        );
    }
    app.stop().await
});

scenario!(mosquitto_clients_connect_over_tls, |services| {
    let certificate = TestCertificate::new()?;
    let app = spawn_app_with(&services, |settings| {
        settings.mqtt.tls_cert_path = Some(certificate.cert_path.clone());
        settings.mqtt.tls_key_path = Some(certificate.key_path.clone());
    })
    .await?;
    let ada = app.create_user("+15551230001").await?;
    let login = Login::from(&ada);
    let mut service = service_watching_outboxes(&app).await?;

    for version in VERSIONS {
        publish_to_outbox(
            &app,
            &mut service,
            &login,
            ada.user_id,
            version,
            Some(&certificate.cert_path),
        )
        .await?;
    }
    app.stop().await
});
