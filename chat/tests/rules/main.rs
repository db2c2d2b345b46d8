//! The messaging rules on an in-memory SQLite database: what a user would notice of
//! idempotency, batches, receipts, sync paging and the group rules, without any transport.

mod batches;
mod groups;
mod harness;
mod receipts;
mod sync;
