//! Last Wills of user devices are stamped with the device that set them, like its publishes:
//! a will cannot speak for a sibling device, and a will on the outbox itself is handled, not
//! lost.

use natter_proto::envelope::{Event, Target};
use natter_tests::mqtt::{Login, connect_v4_with};
use natter_tests::{scenario, spawn_app};
use rumqttc::{LastWill, QoS};

use crate::messaging::{device, event, send};

scenario!(
    a_last_will_is_sent_as_the_device_that_set_it,
    |services| {
        let app = spawn_app(&services).await?;
        let ada = app.create_user("+15551230001").await?;
        let ada_tablet = app
            .add_device(ada.user_id, natter_accounts::Role::User)
            .await?;
        let bob = app.create_user("+15551230002").await?;
        let mut bob_phone = device(&app, &bob).await?;

        // Ada's phone leaves a will on her tablet's outbox topic, and later one on the outbox
        // itself. The first must not come out as the tablet's; the second is her phone's.
        for (topic, body) in [
            (
                format!("u/{}/out/{}", ada.user_id, ada_tablet.device_id),
                "will on the tablet's topic",
            ),
            (format!("u/{}/out", ada.user_id), "will on the outbox"),
        ] {
            let will = serde_json::to_vec(&send(body, Target::User(bob.user_id), body))?;
            let mut phone = connect_v4_with(app.mqtt_addr(), &Login::from(&ada), |options| {
                options.set_last_will(LastWill::new(topic.clone(), will, QoS::AtLeastOnce, false));
            });
            phone
                .wait(|p| matches!(p, rumqttc::Packet::ConnAck(_)).then_some(()))
                .await?;
            drop(phone); // the network goes away: no DISCONNECT
        }

        let Event::Message {
            from,
            from_device,
            body,
            ..
        } = event(&mut bob_phone).await?
        else {
            anyhow::bail!("expected a will as a message")
        };
        assert_eq!(
            (from, from_device, body.0.as_slice()),
            (ada.user_id, ada.device_id, &b"will on the outbox"[..]),
            "a will was sent as another device, or the outbox's will was lost"
        );
        app.stop().await
    }
);
