//! The entity types under short table-like names, for `use natter_entities::prelude::*;`.
//!
//! Only the `Entity` types; reach models, columns and active models through their modules
//! (`natter_entities::messages::Model`).

pub use crate::blocks::Entity as Blocks;
pub use crate::contacts::Entity as Contacts;
pub use crate::conversations::Entity as Conversations;
pub use crate::deliveries::Entity as Deliveries;
pub use crate::devices::Entity as Devices;
pub use crate::group_members::Entity as GroupMembers;
pub use crate::groups::Entity as Groups;
pub use crate::identity_keys::Entity as IdentityKeys;
pub use crate::media::Entity as Media;
pub use crate::messages::Entity as Messages;
pub use crate::one_time_keys::Entity as OneTimeKeys;
pub use crate::otp_codes::Entity as OtpCodes;
pub use crate::push_tokens::Entity as PushTokens;
pub use crate::read_positions::Entity as ReadPositions;
pub use crate::users::Entity as Users;
