//! The client-facing MQTT edge: authentication, per-topic authorization, both protocol
//! versions on one port, and delivery between clients and service workers.

use std::time::Duration;

use bytes::BytesMut;
use natter_proto::topics::ControlTopic;
use natter_tests::mqtt::{Login, connect_v4, connect_v5, unstamped};
use natter_tests::{scenario, spawn_app};
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode as CodeV5, DisconnectReasonCode, Packet as PacketV5, PubAckReason,
    SubscribeReasonCode as SubV5,
};
use rumqttc::{ConnectReturnCode, Packet, QoS, SubscribeReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

scenario!(
    users_connect_with_their_credentials_on_v4_and_v5,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;

        let mut v4 = connect_v4(app.mqtt_addr(), &Login::from(&ada));
        let mut v5 = connect_v5(app.mqtt_addr(), &Login::from(&ada_tablet));

        assert!(
            matches!(v4.next().await?, Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success)
        );
        assert!(matches!(v5.next().await?, PacketV5::ConnAck(ack) if ack.code == CodeV5::Success));
        app.stop().await
    }
);

scenario!(wrong_credentials_get_a_connack_refusal, |services| {
    let app = spawn_app(&services).await?;
    let ada = app.create_user("+15551230001").await?;
    let wrong = Login {
        username: ada.mqtt_username.clone(),
        password: "not-the-password".into(),
    };
    let unknown = Login {
        username: "d999999".into(),
        password: "whatever".into(),
    };

    let mut wrong_v4 = connect_v4(app.mqtt_addr(), &wrong);
    let mut unknown_v4 = connect_v4(app.mqtt_addr(), &unknown);
    let mut wrong_v5 = connect_v5(app.mqtt_addr(), &wrong);

    for outcome in [wrong_v4.next().await, unknown_v4.next().await] {
        let code =
            outcome
                .err()
                .and_then(|err| match err.downcast_ref::<rumqttc::ConnectionError>() {
                    Some(rumqttc::ConnectionError::ConnectionRefused(code)) => Some(*code),
                    _ => None,
                });
        assert_eq!(code, Some(ConnectReturnCode::BadUserNamePassword));
    }
    let code = wrong_v5.next().await.err().and_then(|err| {
        match err.downcast_ref::<rumqttc::v5::ConnectionError>() {
            Some(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => Some(*code),
            _ => None,
        }
    });
    assert_eq!(code, Some(CodeV5::BadUserNamePassword));
    app.stop().await
});

scenario!(
    filters_beyond_the_own_namespace_are_refused_one_by_one,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;
        let me = ada.user_id;
        let refused = [
            "#".to_owned(),
            "+/#".to_owned(),
            "u/+/inbox".to_owned(),
            format!("u/{}/inbox", bob.user_id),
            format!("$share/g/u/{me}/inbox"),
            "$SYS/#".to_owned(),
            "g/12345/#".to_owned(),
            "d/1/#".to_owned(),
        ];
        let mut v4 = connect_v4(app.mqtt_addr(), &Login::from(&ada));
        let mut v5 = connect_v5(app.mqtt_addr(), &Login::from(&ada_tablet));

        for filter in &refused {
            v4.client
                .subscribe(filter.as_str(), QoS::AtLeastOnce)
                .await?;
            assert_eq!(
                v4.suback().await?,
                vec![SubscribeReasonCode::Failure],
                "v4 {filter}"
            );
            v5.client
                .subscribe(filter.as_str(), QoS5::AtLeastOnce)
                .await?;
            assert_eq!(
                v5.suback().await?,
                vec![SubV5::NotAuthorized],
                "v5 {filter}"
            );
        }

        // The connections stayed up: their own namespace is still granted.
        v4.client
            .subscribe(format!("u/{me}/inbox"), QoS::AtLeastOnce)
            .await?;
        assert_eq!(
            v4.suback().await?,
            vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
        v5.client
            .subscribe(format!("u/{me}/#"), QoS5::AtLeastOnce)
            .await?;
        assert_eq!(v5.suback().await?, vec![SubV5::Success(QoS5::AtLeastOnce)]);
        app.stop().await
    }
);

scenario!(
    messages_flow_between_users_and_service_workers,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let mut worker = app.service().await?;
        worker
            .client
            .subscribe("u/+/out/+", QoS::AtLeastOnce)
            .await?;
        worker.suback().await?;
        let mut ada_client = connect_v5(app.mqtt_addr(), &Login::from(&ada));
        ada_client
            .client
            .subscribe(format!("u/{}/inbox", ada.user_id), QoS5::AtLeastOnce)
            .await?;
        ada_client.suback().await?;
        let mut bob_client = connect_v4(app.mqtt_addr(), &Login::from(&bob));
        bob_client
            .client
            .subscribe(format!("u/{}/inbox", bob.user_id), QoS::AtLeastOnce)
            .await?;
        bob_client.suback().await?;

        // Ada sends: the edge acknowledges and the service worker receives it.
        ada_client
            .client
            .publish(
                format!("u/{}/out", ada.user_id),
                QoS5::AtLeastOnce,
                false,
                "hello",
            )
            .await?;
        let ack = ada_client
            .wait(|p| match p {
                PacketV5::PubAck(ack) => Some(ack.reason),
                _ => None,
            })
            .await?;
        assert_eq!(ack, PubAckReason::Success);
        let sent = worker.next_publish().await?;
        // The edge stamps the sending device into the outbox topic.
        assert_eq!(
            sent.topic,
            format!("u/{}/out/{}", ada.user_id, ada.device_id)
        );
        assert_eq!(&unstamped(&sent.payload)?[..], b"hello");

        // The worker delivers to Bob's inbox: Bob gets it at QoS 1; Ada's next message is hers.
        worker
            .client
            .publish(
                format!("u/{}/inbox", bob.user_id),
                QoS::AtLeastOnce,
                false,
                "for bob",
            )
            .await?;
        let delivered = bob_client.next_publish().await?;
        assert_eq!(
            (delivered.qos, &delivered.payload[..]),
            (QoS::AtLeastOnce, &b"for bob"[..])
        );
        worker
            .client
            .publish(
                format!("u/{}/inbox", ada.user_id),
                QoS::AtLeastOnce,
                false,
                "for ada",
            )
            .await?;
        let ada_got = ada_client
            .wait(|p| match p {
                PacketV5::Publish(publish) => Some(publish.payload.clone()),
                _ => None,
            })
            .await?;
        assert_eq!(
            &ada_got[..],
            b"for ada",
            "Ada received someone else's message first"
        );
        app.stop().await
    }
);

scenario!(
    unauthorized_publishes_are_refused_and_the_connection_stays_up,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let bob = app.create_user("+15551230002").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;
        let mut bob_client = connect_v4(app.mqtt_addr(), &Login::from(&bob));
        bob_client
            .client
            .subscribe(format!("u/{}/inbox", bob.user_id), QoS::AtLeastOnce)
            .await?;
        bob_client.suback().await?;

        // MQTT 5: spoofing a delivery into Bob's inbox gets PUBACK 0x87.
        let mut v5 = connect_v5(app.mqtt_addr(), &Login::from(&ada));
        v5.client
            .publish(
                format!("u/{}/inbox", bob.user_id),
                QoS5::AtLeastOnce,
                false,
                "spoof",
            )
            .await?;
        let reason = v5
            .wait(|p| match p {
                PacketV5::PubAck(ack) => Some(ack.reason),
                _ => None,
            })
            .await?;
        assert_eq!(reason, PubAckReason::NotAuthorized);

        // MQTT 3.1.1: dropped but acknowledged (no way to say "refused"), so the client does not
        // resend it forever; the connection stays up (a later subscribe is answered).
        let mut v4 = connect_v4(app.mqtt_addr(), &Login::from(&ada_tablet));
        v4.client
            .publish(
                format!("u/{}/inbox", bob.user_id),
                QoS::AtLeastOnce,
                false,
                "spoof",
            )
            .await?;
        v4.wait(|p| matches!(p, Packet::PubAck(_)).then_some(()))
            .await?;
        v4.client
            .subscribe(format!("u/{}/inbox", ada.user_id), QoS::AtMostOnce)
            .await?;
        assert_eq!(
            v4.suback().await?,
            vec![SubscribeReasonCode::Success(QoS::AtMostOnce)]
        );

        // Bob received neither: the first thing he gets is a real delivery.
        let worker = app.service().await?;
        worker
            .client
            .publish(
                format!("u/{}/inbox", bob.user_id),
                QoS::AtLeastOnce,
                false,
                "real",
            )
            .await?;
        assert_eq!(&bob_client.next_publish().await?.payload[..], b"real");
        app.stop().await
    }
);

scenario!(revoking_a_device_disconnects_it_at_once, |services| {
    let app = spawn_app(&services).await?;
    let ada = app.create_user("+15551230001").await?;
    let mut ada_client = connect_v5(app.mqtt_addr(), &Login::from(&ada));
    ada_client
        .wait(|p| matches!(p, PacketV5::ConnAck(_)).then_some(()))
        .await?;
    let db = app.db().await?;
    natter_accounts::revoke_device(&db, ada.device_id).await?;
    db.close().await?;

    let worker = app.service().await?;
    let control = ControlTopic::DeviceRevoked {
        device_id: ada.device_id,
    };
    worker
        .client
        .publish(control.topic(), QoS::AtLeastOnce, false, "")
        .await?;
    // rumqttc reports the server's DISCONNECT as the error that ends the connection.
    let ended = ada_client.next().await.err();
    let reason =
        ended.as_ref().and_then(
            |err| match err.downcast_ref::<rumqttc::v5::ConnectionError>() {
                Some(rumqttc::v5::ConnectionError::MqttState(
                    rumqttc::v5::StateError::ServerDisconnect { reason_code, .. },
                )) => Some(*reason_code),
                _ => None,
            },
        );

    assert_eq!(
        reason,
        Some(DisconnectReasonCode::AdministrativeAction),
        "{ended:?}"
    );
    let mut again = connect_v5(app.mqtt_addr(), &Login::from(&ada));
    let code = again.next().await.err().and_then(|err| {
        match err.downcast_ref::<rumqttc::v5::ConnectionError>() {
            Some(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => Some(*code),
            _ => None,
        }
    });
    assert_eq!(code, Some(CodeV5::NotAuthorized));
    app.stop().await
});

scenario!(
    oversized_and_malformed_packets_close_only_their_connection,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;
        let mut bystander = connect_v4(app.mqtt_addr(), &Login::from(&ada_tablet));
        bystander
            .wait(|p| matches!(p, Packet::ConnAck(_)).then_some(()))
            .await?;

        // Oversized, from a raw MQTT 5 client (rumqttc itself respects the announced limit).
        let mut raw = tokio::net::TcpStream::connect(app.mqtt_addr()).await?;
        let mut bytes = BytesMut::new();
        let mut connect = rumqttc::v5::mqttbytes::v5::Connect {
            keep_alive: 30,
            client_id: "raw".into(),
            clean_start: true,
            properties: None,
        };
        connect.clean_start = true;
        let login = rumqttc::v5::mqttbytes::v5::Login::new(
            ada.mqtt_username.clone(),
            Login::from(&ada).password,
        );
        PacketV5::Connect(connect, None, Some(login)).write(&mut bytes, None)?;
        let big = vec![0u8; app.settings.mqtt.max_packet_size + 1];
        let publish = rumqttc::v5::mqttbytes::v5::Publish::new(
            format!("u/{}/out", ada.user_id),
            QoS5::AtMostOnce,
            big,
            None,
        );
        PacketV5::Publish(publish).write(&mut bytes, None)?;
        raw.write_all(&bytes).await?;
        let mut received = BytesMut::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            while raw.read_buf(&mut received).await? > 0 {}
            anyhow::Ok(())
        });
        read.await??;
        let connack = PacketV5::read(&mut received, None)?;
        assert!(matches!(connack, PacketV5::ConnAck(ack) if ack.code == CodeV5::Success));
        let disconnect = PacketV5::read(&mut received, None)?;
        assert!(
            matches!(&disconnect, PacketV5::Disconnect(d) if d.reason_code == DisconnectReasonCode::PacketTooLarge),
            "{disconnect:?}"
        );

        // Garbage instead of CONNECT: the server closes without answering.
        let mut garbage = tokio::net::TcpStream::connect(app.mqtt_addr()).await?;
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await?;
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), garbage.read(&mut buf)).await??;
        assert_eq!(read, 0, "expected the server to close the connection");

        // The bystander is unaffected.
        bystander
            .client
            .subscribe(format!("u/{}/inbox", ada.user_id), QoS::AtLeastOnce)
            .await?;
        assert_eq!(
            bystander.suback().await?,
            vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
        app.stop().await
    }
);
