//! Serde adapters shared by the section structs: optional values where an empty string means
//! "unset" (so an environment variable can clear a value a file set), and serializers that
//! render settings without leaking secrets. It does not decide which fields are secret; the
//! structs opt in field by field.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serializer};

/// What a secret renders as.
pub(crate) const REDACTED: &str = "[redacted]";

/// Deserializes an optional value, treating an empty string as `None`.
pub(crate) fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|value| !value.is_empty()).map(T::from))
}

/// Serializes any present secret as [`REDACTED`].
pub(crate) fn redact_secret<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str(REDACTED),
        None => serializer.serialize_none(),
    }
}

/// Serializes a URL with its password (userinfo or `password=` query parameter) redacted.
pub(crate) fn redact_url_secret<S: Serializer>(
    url: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// Serializes a path as text, replacing bytes that are not UTF-8 rather than failing.
pub(crate) fn lossy_path<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// [`lossy_path`] for an optional path.
pub(crate) fn lossy_optional_path<S: Serializer>(
    path: &Option<PathBuf>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => lossy_path(path, serializer),
        None => serializer.serialize_none(),
    }
}

/// Replaces the password in `scheme://user:password@host/...` and any `password=` query
/// value with [`REDACTED`]. Strings without `://` (e.g. `sqlite:data.db`) carry no
/// credentials and are returned unchanged.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|index| index + 3) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}{authority}{}", redact_query_password(tail))
}

/// Redacts the value of every `password` parameter in the query part of `tail`.
fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    match fragment {
        Some(fragment) => format!("{path}?{query}#{fragment}"),
        None => format!("{path}?{query}"),
    }
}

#[cfg(test)]
mod tests {
    use crate::fields::redact_url;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact_url("postgres://natter:hunter2@db:5432/natter"),
            "postgres://natter:[redacted]@db:5432/natter"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/0"),
            "redis://:[redacted]@cache:6379/0"
        );
    }

    #[test]
    fn redacts_password_containing_at_sign() {
        assert_eq!(
            redact_url("postgres://u:p@ss@db/natter"),
            "postgres://u:[redacted]@db/natter"
        );
    }

    #[test]
    fn redacts_password_query_parameter() {
        assert_eq!(
            redact_url("postgresql://db/natter?user=u&password=hunter2&sslmode=require"),
            "postgresql://db/natter?user=u&password=[redacted]&sslmode=require"
        );
    }

    #[test]
    fn leaves_urls_without_credentials_alone() {
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(
            redact_url("postgres://natter@db/natter"),
            "postgres://natter@db/natter"
        );
        assert_eq!(
            redact_url("sqlite:data/natter.db?mode=rwc"),
            "sqlite:data/natter.db?mode=rwc"
        );
    }
}
