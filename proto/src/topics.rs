//! The topic namespace: per-user topics under `u/{user_id}/…`, per-group topics under
//! `g/{group_id}/…`, device topics under `d/{device_id}/…`.

/// The filter a bridge worker subscribes to for messages that users send.
pub const USER_OUTBOX_FILTER: &str = "u/+/out";

/// The topic on which user `user_id` publishes what it sends.
pub fn user_outbox(user_id: i64) -> String {
    format!("u/{user_id}/out")
}

/// The topic on which user `user_id` receives what is delivered to it.
pub fn user_inbox(user_id: i64) -> String {
    format!("u/{user_id}/inbox")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_topics_embed_the_user_id() {
        assert_eq!(user_outbox(42), "u/42/out");
        assert_eq!(user_inbox(42), "u/42/inbox");
    }
}
