//! The five roles of the security centre and what each stands for.

use serde::{Deserialize, Serialize};

/// Who a caller is, as far as permissions go.
///
/// Every endpoint names the roles it admits; nothing is allowed by default.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures grids, posts, users, devices and cameras.
    Admin,
    /// Watches the live wall and every incident of the centre; dispatches (值班人员).
    DutyOfficer,
    /// An officer of a police post or a grid worker: acts on the incidents of its post (处置人员).
    Responder,
    /// Raises SOS and sees only their own incidents (居民).
    Resident,
    /// A panic button: raises SOS only (报警按钮).
    Device,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::DutyOfficer,
        Role::Responder,
        Role::Resident,
        Role::Device,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DutyOfficer => "duty_officer",
            Role::Responder => "responder",
            Role::Resident => "resident",
            Role::Device => "device",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles a person can log in with. Devices authenticate with their own token only.
    pub fn is_person(self) -> bool {
        self != Role::Device
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
