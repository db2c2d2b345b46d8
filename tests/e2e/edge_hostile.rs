//! Hostile input at the edge: storms of connections and of subscriptions. Each gets its
//! documented answer, the server stays up, other clients are unaffected.

use bytes::BytesMut;
use natter_tests::mqtt::{Login, connect_v4, connect_v5};
use natter_tests::{scenario, spawn_app};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet as PacketV5, SubscribeReasonCode as SubV5};
use rumqttc::{ConnectReturnCode, Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a v3.1.1 CONNECT with these credentials and returns the CONNACK code.
async fn connack_code(
    addr: std::net::SocketAddr,
    username: String,
    password: String,
) -> anyhow::Result<ConnectReturnCode> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut connect = v4::Connect::new(format!("storm-{}", uuid::Uuid::new_v4().simple()));
    connect.set_login(username, password);
    let mut bytes = BytesMut::new();
    v4::Packet::Connect(connect).write(&mut bytes, usize::MAX)?;
    stream.write_all(&bytes).await?;
    let mut received = BytesMut::new();
    loop {
        anyhow::ensure!(
            stream.read_buf(&mut received).await? > 0,
            "closed without CONNACK"
        );
        match v4::Packet::read(&mut received, usize::MAX) {
            Ok(v4::Packet::ConnAck(ack)) => return Ok(ack.code),
            Ok(other) => anyhow::bail!("expected CONNACK, got {other:?}"),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

scenario!(
    a_connect_storm_gets_an_answer_for_every_connect_and_the_server_stays_up,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let mut devices = Vec::new();
        for _ in 0..20 {
            devices.push(Login::from(
                &app.add_device(ada.user_id, natter_accounts::Role::User)
                    .await?,
            ));
        }
        let addr = app.mqtt_addr();

        let mut storm = tokio::task::JoinSet::new();
        for attempt in 0..300 {
            let login = devices[attempt % devices.len()].clone();
            let password = if attempt % 3 == 0 {
                login.password
            } else {
                format!("wrong-{attempt}")
            };
            storm.spawn(connack_code(addr, login.username, password));
        }
        for _ in 0..50 {
            // Connections that never send CONNECT, and ones that send garbage.
            storm.spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                stream
                    .write_all(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])
                    .await?;
                Ok(ConnectReturnCode::RefusedProtocolVersion)
            });
        }
        let mut accepted = 0;
        let mut refused = 0;
        while let Some(outcome) = storm.join_next().await {
            match outcome?? {
                ConnectReturnCode::Success => accepted += 1,
                ConnectReturnCode::BadUserNamePassword => refused += 1,
                ConnectReturnCode::RefusedProtocolVersion => {}
                other => anyhow::bail!("unexpected CONNACK {other:?}"),
            }
        }

        assert_eq!((accepted, refused), (100, 200));
        app.wait_healthy().await?;
        let bob = app.create_user("+15551230002").await?;
        let mut bystander = connect_v4(addr, &Login::from(&bob));
        let code = bystander
            .wait(|p| match p {
                Packet::ConnAck(ack) => Some(ack.code),
                _ => None,
            })
            .await?;
        assert_eq!(code, ConnectReturnCode::Success);
        app.stop().await
    }
);

scenario!(
    ten_thousand_subscriptions_from_one_client_hit_the_quota_and_the_connection_stays_up,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let me = ada.user_id;
        let mut client = connect_v5(app.mqtt_addr(), &Login::from(&ada));

        let mut codes = Vec::new();
        for batch in 0..100 {
            let filters = (0..100)
                .map(|i| Filter::new(format!("u/{me}/s/{}", batch * 100 + i), QoS5::AtLeastOnce));
            client.client.subscribe_many(filters).await?;
            let granted = client
                .wait(|p| match p {
                    PacketV5::SubAck(ack) => Some(ack.return_codes.clone()),
                    _ => None,
                })
                .await?;
            codes.extend(granted);
        }

        let granted = codes
            .iter()
            .filter(|code| matches!(code, SubV5::Success(_)))
            .count();
        let over_quota = codes
            .iter()
            .filter(|code| **code == SubV5::QuotaExceeded)
            .count();
        assert_eq!((granted, over_quota), (1000, 9000));
        // Still connected and still delivering on the subscriptions it holds.
        let mut worker = connect_v4(app.settings.mqtt.internal_listen, &app.service_login());
        worker
            .wait(|p| matches!(p, Packet::ConnAck(_)).then_some(()))
            .await?;
        worker
            .client
            .publish(format!("u/{me}/s/7"), QoS::AtLeastOnce, false, "still here")
            .await?;
        let payload = client
            .wait(|p| match p {
                PacketV5::Publish(publish) => Some(publish.payload.clone()),
                _ => None,
            })
            .await?;
        assert_eq!(&payload[..], b"still here");
        app.stop().await
    }
);
