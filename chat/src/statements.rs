//! The statements of the send path, written out: one text per statement and backend, so that
//! nothing rebuilds SQL per message (the query builder cost about a fifth of a stored
//! message's instructions) and the driver's statement cache always hits. The checks before a
//! send (resent id, recipient, block, membership, conversation) are one round trip.
//!
//! Texts are written for PostgreSQL (`$1`…) and turned into SQLite's numbered parameters
//! (`?1`…), which bind the same way.

use natter_entities::{deliveries, messages};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

/// `sql` with `values`, for the connection's backend.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

async fn one(
    txn: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, DbErr> {
    let backend = txn.get_database_backend();
    txn.query_one_raw(statement(backend, sql, values)).await
}

async fn all(
    txn: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    let backend = txn.get_database_backend();
    txn.query_all_raw(statement(backend, sql, values)).await
}

/// What the checks before a send found, in one round trip.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lookup {
    /// The message the sender already stored under this client id.
    pub(crate) existing: Option<i64>,
    /// The recipient exists and is not deleted (direct), or the group is live (group).
    pub(crate) target_live: bool,
    /// The recipient blocks the sender (direct), or the sender is a member (group).
    pub(crate) flag: bool,
    /// The conversation, if it exists yet: (id, timer in seconds).
    pub(crate) conversation: Option<(i64, Option<i32>)>,
}

const DIRECT: &str = "SELECT \
    (SELECT id FROM messages WHERE sender_user_id = $1 AND client_msg_id = $2), \
    (SELECT COUNT(*) FROM users WHERE id = $3 AND deleted_at IS NULL), \
    (SELECT COUNT(*) FROM blocks WHERE blocker_id = $3 AND blocked_id = $1), \
    (SELECT id FROM conversations WHERE kind = 'direct' AND user_low = $4 AND user_high = $5), \
    (SELECT disappearing_secs FROM conversations \
        WHERE kind = 'direct' AND user_low = $4 AND user_high = $5)";

const GROUP: &str = "SELECT \
    (SELECT id FROM messages WHERE sender_user_id = $1 AND client_msg_id = $2), \
    (SELECT COUNT(*) FROM groups WHERE id = $3 AND deleted_at IS NULL), \
    (SELECT COUNT(*) FROM group_members WHERE group_id = $3 AND user_id = $1), \
    (SELECT id FROM conversations WHERE group_id = $3), \
    (SELECT disappearing_secs FROM conversations WHERE group_id = $3)";

/// The checks before `sender` sends `client_id` to user `recipient`.
pub(crate) async fn lookup_direct(
    txn: &impl ConnectionTrait,
    sender: i64,
    client_id: &str,
    recipient: i64,
) -> Result<Lookup, DbErr> {
    let (low, high) = (Ord::min(sender, recipient), Ord::max(sender, recipient));
    let values = vec![
        sender.into(),
        client_id.into(),
        recipient.into(),
        low.into(),
        high.into(),
    ];
    lookup(one(txn, DIRECT, values).await?)
}

/// The checks before `sender` sends `client_id` to group `group_id`.
pub(crate) async fn lookup_group(
    txn: &impl ConnectionTrait,
    sender: i64,
    client_id: &str,
    group_id: i64,
) -> Result<Lookup, DbErr> {
    let values = vec![sender.into(), client_id.into(), group_id.into()];
    lookup(one(txn, GROUP, values).await?)
}

fn lookup(row: Option<QueryResult>) -> Result<Lookup, DbErr> {
    let Some(row) = row else {
        return Err(DbErr::RecordNotFound(
            "the send lookup returned no row".into(),
        ));
    };
    let conversation: Option<i64> = row.try_get_by_index(3)?;
    Ok(Lookup {
        existing: row.try_get_by_index(0)?,
        target_live: row.try_get_by_index::<i64>(1)? > 0,
        flag: row.try_get_by_index::<i64>(2)? > 0,
        conversation: conversation
            .map(|id| Ok::<_, DbErr>((id, row.try_get_by_index(4)?)))
            .transpose()?,
    })
}

/// The members of group `group_id` but `sender`.
pub(crate) async fn other_members(
    txn: &impl ConnectionTrait,
    group_id: i64,
    sender: i64,
) -> Result<Vec<i64>, DbErr> {
    let sql = "SELECT user_id FROM group_members WHERE group_id = $1 AND user_id <> $2";
    all(txn, sql, vec![group_id.into(), sender.into()])
        .await?
        .iter()
        .map(|row| row.try_get_by_index(0))
        .collect()
}

/// Takes the next sequence number of conversation `id` (the row lock orders writers).
pub(crate) async fn next_seq(txn: &impl ConnectionTrait, id: i64) -> Result<i64, DbErr> {
    let sql = "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq";
    match one(txn, sql, vec![id.into()]).await? {
        Some(row) => row.try_get_by_index(0),
        None => Err(DbErr::RecordNotFound(format!("conversation {id}"))),
    }
}

/// A message row to insert.
#[derive(Debug)]
pub(crate) struct NewMessage<'a> {
    pub(crate) conversation_id: i64,
    pub(crate) seq: i64,
    pub(crate) sender: i64,
    pub(crate) device: i64,
    pub(crate) client_id: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) body: &'a [u8],
    pub(crate) reply_to: Option<i64>,
    pub(crate) media: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
}

/// Inserts a message and returns its id.
pub(crate) async fn insert_message(
    txn: &impl ConnectionTrait,
    message: &NewMessage<'_>,
) -> Result<i64, DbErr> {
    let sql = "INSERT INTO messages (conversation_id, seq, sender_user_id, sender_device_id, \
        client_msg_id, kind, body, reply_to_id, media_id, created_at, expires_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
    let values = vec![
        message.conversation_id.into(),
        message.seq.into(),
        message.sender.into(),
        message.device.into(),
        message.client_id.into(),
        message.kind.into(),
        message.body.to_vec().into(),
        message.reply_to.into(),
        message.media.into(),
        message.created_at.into(),
        message.expires_at.into(),
    ];
    match one(txn, sql, values).await? {
        Some(row) => row.try_get_by_index(0),
        None => Err(DbErr::RecordNotInserted),
    }
}

/// `$first, $first+1, …` for `count` values, separated by commas.
fn placeholders(first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 5);
    for index in first..first + count {
        if index > first {
            text.push_str(", ");
        }
        text.push('$');
        text.push_str(&index.to_string());
    }
    text
}

/// Takes the next inbox position of each of `users` (ascending, distinct): (user, position)
/// in ascending user order. With more than one user, the caller has locked their rows first
/// ([`lock_users`]), so that concurrent transactions with overlapping users cannot deadlock.
pub(crate) async fn next_inbox_positions(
    txn: &impl ConnectionTrait,
    users: &[i64],
) -> Result<Vec<(i64, i64)>, DbErr> {
    let sql = format!(
        "UPDATE users SET inbox_seq = inbox_seq + 1 WHERE id IN ({}) RETURNING id, inbox_seq",
        placeholders(1, users.len())
    );
    let values = users.iter().map(|&user| Value::from(user)).collect();
    let mut positions = all(txn, &sql, values)
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<Result<Vec<(i64, i64)>, DbErr>>()?;
    if positions.len() != users.len() {
        return Err(DbErr::RecordNotFound(format!(
            "{} of {} recipients",
            users.len() - positions.len(),
            users.len()
        )));
    }
    positions.sort_unstable_by_key(|&(user, _)| user);
    Ok(positions)
}

/// Locks the rows of `users` in ascending order, 500 at a time (PostgreSQL; nothing on
/// SQLite).
///
/// A batch of sends and receipts locks this way, first, everyone it will touch: each sender
/// (own copy), each recipient (inbox position), each reader (read position). Every row a
/// batch locks later belongs to one of them or to a conversation, and two batches touching
/// one conversation always share a user whose row both lock first (the sender, or a direct
/// chat's other side, or a group's members), so they queue on that user in order instead of
/// deadlocking over the conversation. A membership change between this and the send can
/// still make a cycle; PostgreSQL then aborts one batch, which is handled again request by
/// request.
pub(crate) async fn lock_users(
    txn: &impl ConnectionTrait,
    mut users: Vec<i64>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        // SQLite has one writer at a time: nothing to order.
        return Ok(());
    }
    users.sort_unstable();
    users.dedup();
    for chunk in users.chunks(500) {
        let sql = format!(
            "SELECT id FROM users WHERE id IN ({}) ORDER BY id FOR UPDATE",
            placeholders(1, chunk.len())
        );
        let values = chunk.iter().map(|&user| Value::from(user)).collect();
        all(txn, &sql, values).await?;
    }
    Ok(())
}

/// Inserts one delivery row per (recipient, position, status) of message `message_id`.
pub(crate) async fn insert_deliveries(
    txn: &impl ConnectionTrait,
    message_id: i64,
    created_at: i64,
    rows: &[(i64, i64, &'static str)],
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO deliveries (message_id, created_at, recipient_user_id, inbox_seq, status) \
         VALUES ",
    );
    let mut values = Vec::with_capacity(2 + rows.len() * 3);
    values.push(Value::from(message_id));
    values.push(Value::from(created_at));
    for (index, &(recipient, inbox_seq, status)) in rows.iter().enumerate() {
        if index > 0 {
            sql.push_str(", ");
        }
        let first = 3 + index * 3;
        sql.push_str(&format!("($1, $2, {})", placeholders(first, 3)));
        values.push(recipient.into());
        values.push(inbox_seq.into());
        values.push(status.into());
    }
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Up to `limit` entries of `recipient`'s inbox after position `after`, in order, without
/// messages whose timer ran out by `now`: each delivery with its message and the group of its
/// conversation (`None` for a direct chat).
pub(crate) async fn inbox_after(
    db: &impl ConnectionTrait,
    recipient: i64,
    after: i64,
    limit: u64,
    now: i64,
) -> Result<Vec<(deliveries::Model, messages::Model, Option<i64>)>, DbErr> {
    let sql = "SELECT d.message_id, d.recipient_user_id, d.status, d.delivered_at, d.read_at, \
        d.created_at, d.inbox_seq, m.conversation_id, m.seq, m.sender_user_id, \
        m.sender_device_id, m.client_msg_id, m.kind, m.body, m.reply_to_id, m.media_id, \
        m.created_at, m.edited_at, m.deleted_at, m.expires_at, c.group_id \
        FROM deliveries d \
        JOIN messages m ON m.id = d.message_id \
        JOIN conversations c ON c.id = m.conversation_id \
        WHERE d.recipient_user_id = $1 AND d.inbox_seq > $2 \
        AND (m.expires_at IS NULL OR m.expires_at > $3) \
        ORDER BY d.inbox_seq LIMIT $4";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let values = vec![recipient.into(), after.into(), now.into(), limit.into()];
    all(db, sql, values)
        .await?
        .iter()
        .map(|row| {
            let delivery = deliveries::Model {
                message_id: row.try_get_by_index(0)?,
                recipient_user_id: row.try_get_by_index(1)?,
                status: row.try_get_by_index(2)?,
                delivered_at: row.try_get_by_index(3)?,
                read_at: row.try_get_by_index(4)?,
                created_at: row.try_get_by_index(5)?,
                inbox_seq: row.try_get_by_index(6)?,
            };
            let message = messages::Model {
                id: delivery.message_id,
                conversation_id: row.try_get_by_index(7)?,
                seq: row.try_get_by_index(8)?,
                sender_user_id: row.try_get_by_index(9)?,
                sender_device_id: row.try_get_by_index(10)?,
                client_msg_id: row.try_get_by_index(11)?,
                kind: row.try_get_by_index(12)?,
                body: row.try_get_by_index(13)?,
                reply_to_id: row.try_get_by_index(14)?,
                media_id: row.try_get_by_index(15)?,
                created_at: row.try_get_by_index(16)?,
                edited_at: row.try_get_by_index(17)?,
                deleted_at: row.try_get_by_index(18)?,
                expires_at: row.try_get_by_index(19)?,
            };
            Ok((delivery, message, row.try_get_by_index(20)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
    }
}
