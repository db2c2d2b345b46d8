//! Sync: one page of the caller's inbox at a time, asked for by the client, so that a device
//! back from a long time offline catches up at its own pace.

use natter_proto::envelope::Event;
use sea_orm::{DatabaseConnection, DbErr};

use crate::events::{message_event, own_message_event, read_event};
use crate::request::{Address, Caller, Out, Outcome};
use crate::store;

/// Most messages one sync page carries. Well under the edge's per-connection buffer (1024
/// deliveries), so that a page never makes a reading client "too slow".
pub const SYNC_PAGE_MESSAGES: usize = 200;
/// Most body bytes one sync page carries (a page always carries at least one message).
pub const SYNC_PAGE_BYTES: usize = 256 * 1024;
/// Rows read from the database at a time while a page is filled: what the rules hold for
/// one sync is bounded by this many bodies plus the page, whatever the inbox holds.
const SYNC_CHUNK: u64 = 32;

/// One page of the caller's inbox after `after`: at most [`SYNC_PAGE_MESSAGES`] messages and
/// [`SYNC_PAGE_BYTES`] of bodies, then `synced` saying whether more follow. The client asks
/// for the next page (`sync` after `upto`) once it has processed this one: that request is
/// the flow control, so a sync never holds more than a page in the bridge, the router or the
/// edge, and a client catching up reads at its own pace.
pub(crate) async fn sync(
    db: &DatabaseConnection,
    caller: &Caller,
    after: i64,
) -> Result<Outcome, DbErr> {
    let reply = Address::CallerDevice;
    let mut outs = Vec::new();
    let mut upto = after.max(0);
    let mut bytes = 0_usize;
    let more = 'page: loop {
        let room = SYNC_PAGE_MESSAGES.saturating_sub(outs.len());
        if room == 0 {
            // Full by count: say "more" only when something does follow.
            break more_after(db, caller, upto).await?;
        }
        let wanted = room.min(SYNC_CHUNK as usize) as u64;
        let chunk = store::inbox_after(db, caller.user, upto, wanted, caller.now).await?;
        let full = chunk.len() as u64 == wanted;
        // Read positions share the inbox: those up to the chunk's last entry (all of them
        // after the last chunk) go out in inbox order among the messages.
        let bound = full
            .then(|| chunk.last().map(|(delivery, _, _)| delivery.inbox_seq))
            .flatten();
        let mut reads = store::read_positions_after(db, caller.user, upto, bound)
            .await?
            .into_iter()
            .peekable();
        for (delivery, message, group_id) in chunk {
            while let Some(read) = reads.next_if(|read| read.inbox_seq < delivery.inbox_seq) {
                upto = read.inbox_seq;
                outs.push(Out::Event(reply, read_event(&read)));
            }
            let size = message.body.len();
            if !outs.is_empty() && bytes + size > SYNC_PAGE_BYTES {
                break 'page true;
            }
            bytes += size;
            upto = delivery.inbox_seq;
            let event = if delivery.status == natter_entities::deliveries::STATUS_OWN {
                own_message_event(&message, delivery.inbox_seq, group_id)
            } else {
                message_event(&message, delivery.inbox_seq, group_id)
            };
            outs.push(Out::Event(reply, event));
        }
        for read in reads {
            upto = Ord::max(upto, read.inbox_seq);
            outs.push(Out::Event(reply, read_event(&read)));
        }
        if !full {
            break false;
        }
    };
    outs.push(Out::Event(reply, Event::Synced { upto, more }));
    Ok(outs)
}

/// Whether the caller's inbox has anything (a message or a read position) after `upto`.
async fn more_after(db: &DatabaseConnection, caller: &Caller, upto: i64) -> Result<bool, DbErr> {
    let next = store::inbox_after(db, caller.user, upto, 1, caller.now).await?;
    if !next.is_empty() {
        return Ok(true);
    }
    let reads = store::read_positions_after(db, caller.user, upto, None).await?;
    Ok(!reads.is_empty())
}
