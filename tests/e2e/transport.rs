//! The client-facing transports: MQTT over WebSocket (both protocol versions, path `/mqtt`,
//! subprotocol `mqtt`) and TLS on both listeners, with a certificate made at test time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::BytesMut;
use natter_config::Settings;
use natter_tests::mqtt::{Login, PACKET_TIMEOUT, connect_v5, unstamped};
use natter_tests::ws::{self, WsClient};
use natter_tests::{Services, TestApp, scenario, spawn_app_with};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::{ConnectReturnCode, Packet, QoS, SubscribeReasonCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::http::StatusCode;

/// Turns the WebSocket listener on, on a free loopback port.
fn with_websocket(settings: &mut Settings) {
    settings.mqtt.ws_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
}

fn ws_addr(app: &TestApp) -> anyhow::Result<SocketAddr> {
    app.settings
        .mqtt
        .ws_listen
        .context("the WebSocket listener is off")
}

/// A WebSocket client of version 3.1.1 that has connected with `login`.
async fn ws_v4<S>(mut client: WsClient<S>, login: &Login) -> anyhow::Result<WsClient<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    client.send_v4(&ws::connect_packet_v4(login)).await?;
    match client.next_v4().await? {
        v4::Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => Ok(client),
        other => anyhow::bail!("expected a successful CONNACK, got {other:?}"),
    }
}

scenario!(
    websocket_clients_of_both_versions_exchange_messages,
    |services| {
        let app = spawn_app_with(&services, with_websocket).await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;
        let inbox = format!("u/{}/inbox", ada.user_id);
        let outbox = format!("u/{}/out", ada.user_id);
        let mut worker = app.service().await?;
        worker
            .client
            .subscribe("u/+/out/+", QoS::AtLeastOnce)
            .await?;
        worker
            .wait(|p| matches!(p, Packet::SubAck(_)).then_some(()))
            .await?;

        // MQTT 3.1.1 over WebSocket: the subprotocol is echoed, CONNECT and SUBSCRIBE work.
        let v4_client = WsClient::connect(ws_addr(&app)?).await?;
        assert_eq!(v4_client.subprotocol(), Some("mqtt"));
        let mut v4_client = ws_v4(v4_client, &Login::from(&ada)).await?;
        let subscribe = v4::Subscribe {
            pkid: 1,
            filters: vec![v4::SubscribeFilter::new(inbox.clone(), QoS::AtLeastOnce)],
        };
        v4_client.send_v4(&v4::Packet::Subscribe(subscribe)).await?;
        let v4::Packet::SubAck(granted) = v4_client.next_v4().await? else {
            anyhow::bail!("expected a SUBACK");
        };
        assert_eq!(
            granted.return_codes,
            vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );

        // MQTT 5 over WebSocket.
        let mut v5_client = WsClient::connect(ws_addr(&app)?).await?;
        assert_eq!(v5_client.subprotocol(), Some("mqtt"));
        v5_client
            .send_v5(&ws::connect_packet_v5(&Login::from(&ada_tablet)))
            .await?;
        let v5::Packet::ConnAck(ack) = v5_client.next_v5().await? else {
            anyhow::bail!("expected a CONNACK");
        };
        assert_eq!(ack.code, v5::ConnectReturnCode::Success);
        let subscribe = v5::Subscribe {
            pkid: 1,
            filters: vec![v5::Filter::new(inbox.clone(), QoS5::AtLeastOnce)],
            properties: None,
        };
        v5_client.send_v5(&v5::Packet::Subscribe(subscribe)).await?;
        let v5::Packet::SubAck(granted) = v5_client.next_v5().await? else {
            anyhow::bail!("expected a SUBACK");
        };
        assert_eq!(
            granted.return_codes,
            vec![v5::SubscribeReasonCode::Success(QoS5::AtLeastOnce)]
        );

        // A delivery from the service reaches both, at QoS 1.
        worker
            .client
            .publish(&inbox, QoS::AtLeastOnce, false, "over websocket")
            .await?;
        let v4::Packet::Publish(delivered) = v4_client.next_v4().await? else {
            anyhow::bail!("expected a PUBLISH");
        };
        assert_eq!(
            (delivered.qos, &delivered.payload[..]),
            (QoS::AtLeastOnce, &b"over websocket"[..])
        );
        v4_client
            .send_v4(&v4::Packet::PubAck(v4::PubAck::new(delivered.pkid)))
            .await?;
        let v5::Packet::Publish(delivered) = v5_client.next_v5().await? else {
            anyhow::bail!("expected a PUBLISH");
        };
        assert_eq!(&delivered.payload[..], b"over websocket");
        v5_client
            .send_v5(&v5::Packet::PubAck(v5::PubAck::new(delivered.pkid, None)))
            .await?;

        // And the other way: a QoS 1 publish over WebSocket is acknowledged and reaches
        // the service.
        let mut publish = v5::Publish::new(&outbox, QoS5::AtLeastOnce, "from a browser", None);
        publish.pkid = 7;
        v5_client.send_v5(&v5::Packet::Publish(publish)).await?;
        let v5::Packet::PubAck(ack) = v5_client.next_v5().await? else {
            anyhow::bail!("expected a PUBACK");
        };
        assert_eq!((ack.pkid, ack.reason), (7, v5::PubAckReason::Success));
        let sent = worker
            .wait(|p| match p {
                Packet::Publish(publish) => Some(publish.clone()),
                _ => None,
            })
            .await?;
        // The edge stamps the sending device into the outbox topic.
        let stamped = format!("{outbox}/{}", ada_tablet.device_id);
        assert_eq!(
            (sent.topic.as_str(), &unstamped(&sent.payload)?[..]),
            (stamped.as_str(), &b"from a browser"[..])
        );
        app.stop().await
    }
);

scenario!(
    websocket_refuses_wrong_passwords_and_other_paths,
    |services| {
        let app = spawn_app_with(&services, with_websocket).await?;
        let ada = app.create_user("+15551230001").await?;
        let wrong = Login {
            username: ada.mqtt_username.clone(),
            password: "not-the-password".into(),
        };
        let addr = ws_addr(&app)?;

        let mut v4_client = WsClient::connect(addr).await?;
        v4_client.send_v4(&ws::connect_packet_v4(&wrong)).await?;
        let v4::Packet::ConnAck(refused) = v4_client.next_v4().await? else {
            anyhow::bail!("expected a CONNACK");
        };
        assert_eq!(refused.code, ConnectReturnCode::BadUserNamePassword);

        let mut v5_client = WsClient::connect(addr).await?;
        v5_client.send_v5(&ws::connect_packet_v5(&wrong)).await?;
        let v5::Packet::ConnAck(refused) = v5_client.next_v5().await? else {
            anyhow::bail!("expected a CONNACK");
        };
        assert_eq!(refused.code, v5::ConnectReturnCode::BadUserNamePassword);

        for path in ["/", "/mqtt/", "/ws"] {
            let stream = TcpStream::connect(addr).await?;
            let status = match ws::upgrade(stream, addr, path).await {
                Err(WsError::Http(response)) => Some(response.status()),
                _ => None,
            };
            assert_eq!(status, Some(StatusCode::NOT_FOUND), "{path}");
        }
        app.stop().await
    }
);

scenario!(
    tls_carries_mqtt_and_websocket_and_refuses_plain_text,
    |services| {
        let certificate = TestCertificate::new()?;
        let app = spawn_app_with(&services, |settings| {
            with_websocket(settings);
            settings.mqtt.tls_cert_path = Some(certificate.cert_path.clone());
            settings.mqtt.tls_key_path = Some(certificate.key_path.clone());
        })
        .await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;

        // MQTT 5 over TLS.
        let mut tls = certificate.connect(app.mqtt_addr()).await?;
        let mut connect = BytesMut::new();
        ws::connect_packet_v5(&Login::from(&ada)).write(&mut connect, None)?;
        tls.write_all(&connect).await?;
        tls.flush().await?;
        let v5::Packet::ConnAck(ack) = read_v5(&mut tls).await? else {
            anyhow::bail!("expected a CONNACK");
        };
        assert_eq!(ack.code, v5::ConnectReturnCode::Success);

        // MQTT 3.1.1 over WebSocket over TLS (wss).
        let ws_addr = ws_addr(&app)?;
        let wss = WsClient::over(certificate.connect(ws_addr).await?, ws_addr).await?;
        assert_eq!(wss.subprotocol(), Some("mqtt"));
        ws_v4(wss, &Login::from(&ada_tablet)).await?;

        // No plain-text fallback on a TLS listener.
        let mut plain = connect_v5(app.mqtt_addr(), &Login::from(&ada_tablet));
        let outcome = plain.next().await;
        assert!(outcome.is_err(), "plain MQTT was answered: {outcome:?}");
        app.stop().await
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_certificate_stops_start_up_naming_the_setting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;

    let outcome = spawn_app_with(&Services::embedded(), |settings| {
        settings.mqtt.tls_cert_path = Some(dir.path().join("missing-cert.pem"));
        settings.mqtt.tls_key_path = Some(dir.path().join("missing-key.pem"));
    })
    .await;

    let message = format!("{:#}", outcome.err().context("the app started")?);
    assert!(message.contains("NATTER__MQTT__TLS_CERT_PATH"), "{message}");
    assert!(message.contains("missing-cert.pem"), "{message}");
    Ok(())
}

/// Reads one MQTT 5 packet from a byte stream.
async fn read_v5<S: AsyncRead + Unpin>(stream: &mut S) -> anyhow::Result<v5::Packet> {
    let mut input = BytesMut::new();
    tokio::time::timeout(PACKET_TIMEOUT, async {
        loop {
            match v5::Packet::read(&mut input, None) {
                Ok(packet) => return Ok(packet),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {
                    if stream.read_buf(&mut input).await? == 0 {
                        anyhow::bail!("the server closed the connection");
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
    })
    .await
    .context("waiting for a packet")?
}

/// A self-signed certificate for `localhost` and 127.0.0.1 in PEM files, and a client that
/// trusts it.
pub(crate) struct TestCertificate {
    _dir: tempfile::TempDir,
    /// The certificate, which is also the one trust anchor a client needs.
    pub(crate) cert_path: PathBuf,
    /// Its private key.
    pub(crate) key_path: PathBuf,
    connector: TlsConnector,
}

impl TestCertificate {
    pub(crate) fn new() -> anyhow::Result<TestCertificate> {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let dir = tempfile::tempdir()?;
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, certified.cert.pem())?;
        std::fs::write(&key_path, certified.signing_key.serialize_pem())?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certified.cert.der().clone())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TestCertificate {
            _dir: dir,
            cert_path,
            key_path,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// A TLS connection to `addr` that verifies the server's certificate.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> anyhow::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::from(addr.ip());
        self.connector
            .connect(name, tcp)
            .await
            .context("TLS handshake")
    }
}
