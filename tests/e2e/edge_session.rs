//! Session behaviour of the edge: keep-alive, Last Will, persistent sessions, group
//! membership, operators.

use std::time::Duration;

use bytes::BytesMut;
use natter_proto::topics::ControlTopic;
use natter_tests::mqtt::{Login, connect_v4, connect_v4_with, connect_v5};
use natter_tests::{TestApp, scenario, spawn_app};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::{Packet as PacketV5, PubAckReason, SubscribeReasonCode as SubV5};
use rumqttc::{Packet, QoS, SubscribeReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a raw v3.1.1 connection with `connect` and returns it after CONNACK.
async fn raw_v4(app: &TestApp, connect: v4::Connect) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(app.mqtt_addr()).await?;
    let mut bytes = BytesMut::new();
    v4::Packet::Connect(connect).write(&mut bytes, usize::MAX)?;
    stream.write_all(&bytes).await?;
    let mut received = BytesMut::new();
    loop {
        anyhow::ensure!(
            stream.read_buf(&mut received).await? > 0,
            "closed before CONNACK"
        );
        match v4::Packet::read(&mut received, usize::MAX) {
            Ok(v4::Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success => {
                return Ok(stream);
            }
            Ok(other) => anyhow::bail!("expected a successful CONNACK, got {other:?}"),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

fn raw_connect(login: &Login, keep_alive: u16, will: Option<v4::LastWill>) -> v4::Connect {
    let mut connect = v4::Connect::new(format!("raw-{}", uuid::Uuid::new_v4().simple()));
    connect.keep_alive = keep_alive;
    connect.set_login(login.username.clone(), login.password.clone());
    connect.last_will = will;
    connect
}

scenario!(
    a_silent_client_is_disconnected_after_one_and_a_half_keep_alives,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let mut stream = raw_v4(&app, raw_connect(&Login::from(&ada), 1, None)).await?;

        // Say nothing: the server must close within 1.5 s of keep-alive (allow slack).
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await??;

        assert_eq!(
            read, 0,
            "expected the server to close the silent connection"
        );
        app.stop().await
    }
);

scenario!(
    a_device_that_drops_off_publishes_its_last_will,
    |services| {
        let app = spawn_app(&services).await?;
        let owner = app.create_user("+15551230001").await?;
        let sensor = app
            .add_device(owner.user_id, natter_accounts::Role::Device)
            .await?;
        let mut worker = app.service().await?;
        worker
            .client
            .subscribe("d/+/status", QoS::AtLeastOnce)
            .await?;
        worker.suback().await?;
        let will = v4::LastWill::new(
            format!("d/{}/status", sensor.device_id),
            "offline",
            QoS::AtLeastOnce,
            false,
        );
        let stream = raw_v4(&app, raw_connect(&Login::from(&sensor), 30, Some(will))).await?;

        drop(stream);

        let will = worker.next_publish().await?;
        assert_eq!(will.topic, format!("d/{}/status", sensor.device_id));
        assert_eq!(&will.payload[..], b"offline");
        app.stop().await
    }
);

scenario!(
    a_persistent_session_gets_unacknowledged_messages_again_after_reconnect,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let login = Login::from(&ada);
        let persistent = |options: &mut rumqttc::MqttOptions| {
            options.set_clean_session(false);
            options.set_client_id(format!("ada-{}", login.username));
            options.set_manual_acks(true);
        };
        let mut first = connect_v4_with(app.mqtt_addr(), &login, persistent);
        first
            .client
            .subscribe(format!("u/{}/inbox", ada.user_id), QoS::AtLeastOnce)
            .await?;
        first.suback().await?;
        let worker = app.service().await?;
        worker
            .client
            .publish(
                format!("u/{}/inbox", ada.user_id),
                QoS::AtLeastOnce,
                false,
                "m1",
            )
            .await?;
        let received = first.next_publish().await?;
        assert_eq!(&received.payload[..], b"m1");

        // The phone loses its network before acknowledging.
        drop(first);
        let mut second = connect_v4_with(app.mqtt_addr(), &login, persistent);
        let present = second
            .wait(|p| match p {
                Packet::ConnAck(ack) => Some(ack.session_present),
                _ => None,
            })
            .await?;
        let again = second.next_publish().await?;

        assert!(present, "the session was not kept");
        assert_eq!(&again.payload[..], b"m1");
        assert!(again.dup, "a resent message must carry DUP");
        app.stop().await
    }
);

scenario!(
    group_members_subscribe_and_a_removed_member_stops_receiving_at_once,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let carol = app.create_user("+15551230003").await?;
        let group = app.create_group(&[ada.user_id, bob.user_id]).await?;
        let mut bob_client = connect_v4(app.mqtt_addr(), &Login::from(&bob));
        bob_client
            .client
            .subscribe(format!("g/{group}/#"), QoS::AtLeastOnce)
            .await?;
        bob_client
            .client
            .subscribe(format!("u/{}/inbox", bob.user_id), QoS::AtLeastOnce)
            .await?;
        assert_eq!(
            bob_client.suback().await?,
            vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
        bob_client.suback().await?;
        let mut carol_client = connect_v4(app.mqtt_addr(), &Login::from(&carol));
        carol_client
            .client
            .subscribe(format!("g/{group}/#"), QoS::AtLeastOnce)
            .await?;
        assert_eq!(
            carol_client.suback().await?,
            vec![SubscribeReasonCode::Failure]
        );

        let worker = app.service().await?;
        worker
            .client
            .publish(format!("g/{group}/chat"), QoS::AtLeastOnce, false, "before")
            .await?;
        assert_eq!(&bob_client.next_publish().await?.payload[..], b"before");

        app.remove_member(group, bob.user_id).await?;
        let control = ControlTopic::MemberRemoved {
            group_id: group,
            user_id: bob.user_id,
        };
        worker
            .client
            .publish(control.topic(), QoS::AtLeastOnce, false, "")
            .await?;
        worker
            .client
            .publish(format!("g/{group}/chat"), QoS::AtLeastOnce, false, "after")
            .await?;
        worker
            .client
            .publish(
                format!("u/{}/inbox", bob.user_id),
                QoS::AtLeastOnce,
                false,
                "marker",
            )
            .await?;

        // Messages on one link arrive in order: the marker comes next, not the group message.
        assert_eq!(&bob_client.next_publish().await?.payload[..], b"marker");
        bob_client
            .client
            .subscribe(format!("g/{group}/#"), QoS::AtLeastOnce)
            .await?;
        assert_eq!(
            bob_client.suback().await?,
            vec![SubscribeReasonCode::Failure]
        );
        app.stop().await
    }
);

scenario!(
    operators_watch_every_topic_and_publish_nothing,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let db = app.db().await?;
        let operator = natter_accounts::create_operator(&db, "ops").await?;
        db.close().await?;
        let mut ops = connect_v5(app.mqtt_addr(), &Login::from(&operator));
        ops.client.subscribe("#", QoS5::AtMostOnce).await?;
        let granted = ops
            .wait(|p| match p {
                PacketV5::SubAck(ack) => Some(ack.return_codes.clone()),
                _ => None,
            })
            .await?;
        assert_eq!(granted, vec![SubV5::Success(QoS5::AtMostOnce)]);

        let worker = app.service().await?;
        worker
            .client
            .publish(
                format!("u/{}/inbox", ada.user_id),
                QoS::AtLeastOnce,
                false,
                "watched",
            )
            .await?;
        let seen = ops
            .wait(|p| match p {
                PacketV5::Publish(publish) => Some(publish.payload.clone()),
                _ => None,
            })
            .await?;
        assert_eq!(&seen[..], b"watched");

        ops.client
            .publish(
                format!("u/{}/inbox", ada.user_id),
                QoS5::AtLeastOnce,
                false,
                "forged",
            )
            .await?;
        let reason = ops
            .wait(|p| match p {
                PacketV5::PubAck(ack) => Some(ack.reason),
                _ => None,
            })
            .await?;
        assert_eq!(reason, PubAckReason::NotAuthorized);
        app.stop().await
    }
);
