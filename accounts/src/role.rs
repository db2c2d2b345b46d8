//! What a device may do, as stored in `devices.role`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The role of a device: decides which topics the broker lets it use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A person's phone, browser or desktop client (`"user"`).
    User,
    /// A machine acting for a user, such as a sensor or a bot (`"device"`).
    Device,
    /// An administrator's client, not tied to a phone number (`"operator"`).
    Operator,
}

impl Role {
    /// The value stored in `devices.role`: `"user"`, `"device"` or `"operator"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Device => "device",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Parses the stored form; anything else (including `"service"`, which no device
    /// provisioned here carries) is [`Error::InvalidRole`].
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input {
            "user" => Ok(Self::User),
            "device" => Ok(Self::Device),
            "operator" => Ok(Self::Operator),
            _ => Err(Error::InvalidRole {
                input: input.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_stored_form() {
        for role in [Role::User, Role::Device, Role::Operator] {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
    }

    #[test]
    fn unknown_roles_are_rejected() {
        for input in ["", "User", "service", "admin"] {
            assert!(matches!(
                input.parse::<Role>(),
                Err(Error::InvalidRole { .. })
            ));
        }
    }
}
