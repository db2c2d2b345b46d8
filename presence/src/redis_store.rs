//! The Redis presence store, shared by every node on one Redis. Keys, all under
//! `{redis.key_prefix}:presence:`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `user:{user}` | hash | device id → node id: the device registry |
//! | `node:{node}` | set | `{user}:{device}` of every device the node holds |
//! | `alive:{node}` | string, PX TTL | the node's heartbeat: gone once the node stops refreshing it |
//! | `nodes` | sorted set | node id by last heartbeat (unix ms), to find dead nodes |
//! | `seen:{user}` | string, 30-day TTL | last seen, unix ms (a cache: `users.last_seen_at` is the record) |
//!
//! A user is online when one of their registry entries names a node whose `alive` key
//! exists, so the users of a crashed node read as offline as soon as its heartbeat expires;
//! reaping (by any live node) then unregisters its devices and tells watchers. Each change is
//! one Lua script, atomic on one Redis. (Redis Cluster would need these keys hash-tagged per
//! user; not done yet.)

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::Script;

use crate::error::{Error, Result};
use crate::redis_link::RedisLink;
use crate::store::{DeviceRef, PresenceStore, Reaped, UserPresence};

/// `online(p, uid)`: whether a registry entry of `uid` names a live node.
const ONLINE_FN: &str = r"
local function online(p, uid)
  local entries = redis.call('HGETALL', p .. ':user:' .. uid)
  for i = 2, #entries, 2 do
    if redis.call('EXISTS', p .. ':alive:' .. entries[i]) == 1 then return true end
  end
  return false
end
";

const DEVICE_ONLINE: &str = r"
local p, node, uid, did = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local was = online(p, uid)
local prev = redis.call('HGET', p .. ':user:' .. uid, did)
if prev and prev ~= node then redis.call('SREM', p .. ':node:' .. prev, uid .. ':' .. did) end
redis.call('HSET', p .. ':user:' .. uid, did, node)
redis.call('SADD', p .. ':node:' .. node, uid .. ':' .. did)
if was then return 0 end
return 1
";

const DEVICE_OFFLINE: &str = r"
local p, node, uid, did, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local was = online(p, uid)
if redis.call('HGET', p .. ':user:' .. uid, did) == node then
  redis.call('HDEL', p .. ':user:' .. uid, did)
end
redis.call('SREM', p .. ':node:' .. node, uid .. ':' .. did)
if was and not online(p, uid) then
  redis.call('SET', p .. ':seen:' .. uid, at, 'PX', 2592000000)
  return 1
end
return 0
";

const HEARTBEAT: &str = r"
local p, node, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('SET', p .. ':alive:' .. node, now, 'PX', ttl)
return redis.call('ZADD', p .. ':nodes', now, node)
";

const RESYNC: &str = r"
local p, node, at = ARGV[1], ARGV[2], ARGV[3]
local nodekey = p .. ':node:' .. node
local want = {}
for i = 4, #ARGV, 2 do want[ARGV[i] .. ':' .. ARGV[i + 1]] = { ARGV[i], ARGV[i + 1] } end
local dropped = {}
for _, member in ipairs(redis.call('SMEMBERS', nodekey)) do
  if not want[member] then
    local uid, did = string.match(member, '^(%-?%d+):(%-?%d+)$')
    if uid then
      if redis.call('HGET', p .. ':user:' .. uid, did) == node then
        redis.call('HDEL', p .. ':user:' .. uid, did)
      end
      dropped[uid] = true
    end
    redis.call('SREM', nodekey, member)
  end
end
for member, d in pairs(want) do
  local prev = redis.call('HGET', p .. ':user:' .. d[1], d[2])
  if prev and prev ~= node then redis.call('SREM', p .. ':node:' .. prev, member) end
  redis.call('HSET', p .. ':user:' .. d[1], d[2], node)
  redis.call('SADD', nodekey, member)
end
for uid, _ in pairs(dropped) do
  if not online(p, uid) then redis.call('SET', p .. ':seen:' .. uid, at, 'PX', 2592000000) end
end
return 0
";

const USER_PRESENCE: &str = r"
local p, uid = ARGV[1], ARGV[2]
if online(p, uid) then return { 1, false } end
return { 0, redis.call('GET', p .. ':seen:' .. uid) }
";

const NODE_OF: &str = r"
local p, uid, did = ARGV[1], ARGV[2], ARGV[3]
local node = redis.call('HGET', p .. ':user:' .. uid, did)
if node and redis.call('EXISTS', p .. ':alive:' .. node) == 1 then return node end
return false
";

/// Unregisters every device of node ARGV[2]; ARGV[3] is the last seen to record, or empty
/// for the node's last heartbeat (reaping). Returns `{last_seen, {users now offline}}`, or
/// `{0, {}}` when the node is alive again or another caller reaped it first.
const REMOVE_NODE: &str = r"
local p, node, at, reaping = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local last = redis.call('ZSCORE', p .. ':nodes', node)
if reaping then
  if redis.call('EXISTS', p .. ':alive:' .. node) == 1 or not last then return { 0, {} } end
  at = last
end
redis.call('ZREM', p .. ':nodes', node)
redis.call('DEL', p .. ':alive:' .. node)
local nodekey = p .. ':node:' .. node
local users = {}
for _, member in ipairs(redis.call('SMEMBERS', nodekey)) do
  local uid, did = string.match(member, '^(%-?%d+):(%-?%d+)$')
  if uid then
    if redis.call('HGET', p .. ':user:' .. uid, did) == node then
      redis.call('HDEL', p .. ':user:' .. uid, did)
    end
    users[uid] = true
  end
end
redis.call('DEL', nodekey)
local out = {}
for uid, _ in pairs(users) do
  if not online(p, uid) then
    redis.call('SET', p .. ':seen:' .. uid, at, 'PX', 2592000000)
    table.insert(out, tonumber(uid))
  end
end
return { math.floor(tonumber(at)), out }
";

/// Presence in Redis (see the module header for the keys).
#[derive(Clone)]
pub struct RedisStore {
    link: RedisLink,
    prefix: String,
    ttl_ms: u64,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    device_online: Script,
    device_offline: Script,
    heartbeat: Script,
    resync: Script,
    user_presence: Script,
    node_of: Script,
    remove_node: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (failing if it does not answer a PING within `timeout`);
    /// keys go under `{key_prefix}:presence:`, heartbeats last `ttl`. Once connected, the
    /// connection reconnects on its own after an outage, and a command that times out replaces
    /// it ([`RedisLink`]); commands fail meanwhile (within `timeout`), and presence degrades to
    /// "unknown".
    ///
    /// # Errors
    /// [`Error::Connect`] when the URL is invalid or the server does not answer.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<RedisStore> {
        let link = RedisLink::connect(url, timeout)
            .await
            .map_err(Error::Connect)?;
        let script = |body: &str| Script::new(&format!("{ONLINE_FN}{body}"));
        Ok(RedisStore {
            link,
            prefix: format!("{key_prefix}:presence"),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            scripts: Scripts {
                device_online: script(DEVICE_ONLINE),
                device_offline: script(DEVICE_OFFLINE),
                heartbeat: script(HEARTBEAT),
                resync: script(RESYNC),
                user_presence: script(USER_PRESENCE),
                node_of: script(NODE_OF),
                remove_node: script(REMOVE_NODE),
            },
        })
    }

    /// A failed command's error, after replacing the connection if it timed out.
    fn failed(&self, err: redis::RedisError) -> redis::RedisError {
        self.link.note_failure(&err);
        err
    }

    /// The connection, for the health probe: a PING on it shares the replacement logic.
    pub fn link(&self) -> &RedisLink {
        &self.link
    }

    async fn remove(&self, node: &str, at_ms: Option<i64>) -> Result<(i64, Vec<i64>)> {
        let mut manager = self.link.connection();
        let at = at_ms.map(|at| at.to_string()).unwrap_or_default();
        Ok(self
            .scripts
            .remove_node
            .arg(&self.prefix)
            .arg(node)
            .arg(at)
            .arg(if at_ms.is_none() { "1" } else { "0" })
            .invoke_async(&mut manager)
            .await
            .map_err(|err| self.failed(err))?)
    }
}

impl PresenceStore for RedisStore {
    fn device_online<'a>(
        &'a self,
        node: &'a str,
        device: DeviceRef,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let went_online: i64 = self
                .scripts
                .device_online
                .arg(&self.prefix)
                .arg(node)
                .arg(device.user_id)
                .arg(device.device_id)
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(went_online == 1)
        })
    }

    fn device_offline<'a>(
        &'a self,
        node: &'a str,
        device: DeviceRef,
        at_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let went_offline: i64 = self
                .scripts
                .device_offline
                .arg(&self.prefix)
                .arg(node)
                .arg(device.user_id)
                .arg(device.device_id)
                .arg(at_ms)
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(went_offline == 1)
        })
    }

    fn heartbeat<'a>(&'a self, node: &'a str, now_ms: i64) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let added: i64 = self
                .scripts
                .heartbeat
                .arg(&self.prefix)
                .arg(node)
                .arg(now_ms)
                .arg(self.ttl_ms)
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(added == 0)
        })
    }

    fn resync<'a>(
        &'a self,
        node: &'a str,
        devices: &'a [DeviceRef],
        at_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let mut invocation = self.scripts.resync.prepare_invoke();
            invocation.arg(&self.prefix).arg(node).arg(at_ms);
            for device in devices {
                invocation.arg(device.user_id).arg(device.device_id);
            }
            let _: i64 = invocation
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(())
        })
    }

    fn user_presence(&self, user_id: i64) -> BoxFuture<'_, Result<UserPresence>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let (online, last_seen): (i64, Option<i64>) = self
                .scripts
                .user_presence
                .arg(&self.prefix)
                .arg(user_id)
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(if online == 1 {
                UserPresence::Online
            } else {
                UserPresence::Offline { last_seen }
            })
        })
    }

    fn node_of(&self, device: DeviceRef) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            Ok(self
                .scripts
                .node_of
                .arg(&self.prefix)
                .arg(device.user_id)
                .arg(device.device_id)
                .invoke_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?)
        })
    }

    fn reap_dead_nodes(&self, now_ms: i64) -> BoxFuture<'_, Result<Vec<Reaped>>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            let ttl = i64::try_from(self.ttl_ms).unwrap_or(i64::MAX);
            let candidates: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(format!("{}:nodes", self.prefix))
                .arg("-inf")
                .arg(now_ms.saturating_sub(ttl))
                .query_async(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            let mut reaped = Vec::new();
            for node in candidates {
                let (last_seen, users) = self.remove(&node, None).await?;
                reaped.extend(
                    users
                        .into_iter()
                        .map(|user_id| Reaped { user_id, last_seen }),
                );
            }
            Ok(reaped)
        })
    }

    fn remove_node<'a>(&'a self, node: &'a str, at_ms: i64) -> BoxFuture<'a, Result<Vec<i64>>> {
        Box::pin(async move { Ok(self.remove(node, Some(at_ms)).await?.1) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut manager = self.link.connection();
            redis::cmd("PING")
                .query_async::<String>(&mut manager)
                .await
                .map_err(|err| self.failed(err))?;
            Ok(())
        })
    }
}
