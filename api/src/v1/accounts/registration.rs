//! `POST /v1/register`, `POST /v1/verify` (no authentication) and `DELETE /v1/account`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use natter_accounts::registration::{CodeSent, RegisterRequest, VerifyRequest, VerifyResponse};
use natter_accounts::{deletion, registration, sms};
use natter_proto::topics::ControlTopic;

use crate::v1::ApiContext;
use crate::v1::accounts::error::AccountsError;
use crate::v1::auth::Device;
use crate::v1::error::ApiJson;

pub(crate) async fn register(
    State(ctx): State<ApiContext>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<CodeSent>), AccountsError> {
    let source = client_address(
        peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
        &headers,
        ctx.settings.accounts.trusted_proxy_hops,
    );
    // Built per request: codes are rare (one per number per cooldown), and the context
    // carries settings, not senders.
    let sender = sms::from_settings(&ctx.settings)?;
    let sent = registration::request_code(
        &ctx.db,
        &ctx.settings.accounts,
        sender.as_ref(),
        request,
        source,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// The client's address: the peer's, or with `trusted_hops` proxies in front the address the
/// outermost trusted proxy saw (the `trusted_hops`-th `X-Forwarded-For` entry from the right;
/// entries further left are the client's own claims). `None` when a trusted proxy sent no
/// usable header: better no per-address count than one address for every client.
fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted_hops: u32) -> Option<IpAddr> {
    if trusted_hops == 0 {
        return peer;
    }
    let mut forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    forwarded.reverse();
    let hop = usize::try_from(trusted_hops).ok()?.checked_sub(1)?;
    forwarded.get(hop)?.parse().ok()
}

pub(crate) async fn verify(
    State(ctx): State<ApiContext>,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<(StatusCode, Json<VerifyResponse>), AccountsError> {
    let verified = registration::verify(&ctx.db, &ctx.settings.accounts, request).await?;
    disconnect(&ctx, &verified.revoked_device_ids).await;
    Ok((StatusCode::CREATED, Json(verified.response)))
}

pub(crate) async fn delete_account(
    State(ctx): State<ApiContext>,
    Device(identity): Device,
) -> Result<StatusCode, AccountsError> {
    let deleted = deletion::delete_account(&ctx.db, &identity).await?;
    disconnect(&ctx, &deleted.device_ids).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the broker nodes to drop the sessions of `device_ids`. The database already refuses
/// them, so a failure only delays the disconnect until the session's next CONNECT.
pub(crate) async fn disconnect(ctx: &ApiContext, device_ids: &[i64]) {
    for &device_id in device_ids {
        if let Err(error) = ctx
            .control
            .publish(ControlTopic::DeviceRevoked { device_id })
            .await
        {
            tracing::warn!(device_id, %error, "telling the broker about a revoked device failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_address_the_trusted_proxy_saw() {
        let peer = "10.0.0.5".parse().ok();
        let mut headers = HeaderMap::new();
        assert_eq!(client_address(peer, &headers, 0), peer);
        assert_eq!(client_address(peer, &headers, 1), None);
        headers.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9".parse().expect("header"),
        );
        assert_eq!(client_address(peer, &headers, 0), peer);
        assert_eq!(
            client_address(peer, &headers, 1),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(client_address(peer, &headers, 2), "1.1.1.1".parse().ok());
        assert_eq!(client_address(peer, &headers, 3), None);
    }
}
