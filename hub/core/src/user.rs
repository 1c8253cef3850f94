//! People who log in: admins, duty officers, responders and residents.

use crate::patch::double_option;
use crate::validate::{self, ValidationError};
use crate::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user as the API shows it. The password hash never leaves the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The post a responder belongs to.
    pub post_id: Option<String>,
    /// The grid a resident lives in.
    pub grid_id: Option<String>,
    /// How to call a resident back when they raise an SOS (shown to the duty room and the
    /// post dispatched to, never to other residents).
    pub phone: Option<String>,
    /// Where a resident lives, to find the door.
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub post_id: Option<String>,
    #[serde(default)]
    pub grid_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    /// A new password; every session of the user is revoked with it.
    pub password: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    pub post_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub grid_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub address: Option<Option<String>>,
}

/// A phone number and an address as people type them: short free text.
fn validate_contact(phone: Option<&str>, address: Option<&str>) -> Result<(), ValidationError> {
    validate::text("phone", phone, 40)?;
    validate::text("address", address, 200)
}

pub const MIN_PASSWORD_LEN: usize = 8;

pub fn validate_password(pw: &str) -> Result<(), ValidationError> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if pw.len() > 1024 {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    Ok(())
}

/// Rules tying a role to its place: a responder belongs to a post, a device is no user.
fn validate_role_ties(role: Role, post_id: Option<&str>) -> Result<(), ValidationError> {
    match role {
        Role::Device => Err(ValidationError::new(
            "role",
            "devices are not users: create them under /api/v1/devices",
        )),
        Role::Responder if post_id.is_none() => Err(ValidationError::new(
            "post_id",
            "a responder must belong to a post",
        )),
        _ => Ok(()),
    }
}

impl NewUser {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_username(&self.username)?;
        validate_password(&self.password)?;
        if let Some(d) = &self.display_name {
            validate::name("display_name", d, 100)?;
        }
        validate_contact(self.phone.as_deref(), self.address.as_deref())?;
        validate_role_ties(self.role, self.post_id.as_deref())
    }
}

pub fn validate_username(u: &str) -> Result<(), ValidationError> {
    let ok = (3..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "username",
            "3 to 64 characters: letters, digits, _ - . @",
        ))
    }
}

impl User {
    /// The user after a patch (the password is the store's to hash), validated as a whole.
    pub fn patched(&self, p: &UserPatch) -> Result<User, ValidationError> {
        let mut out = self.clone();
        if let Some(v) = &p.display_name {
            validate::name("display_name", v, 100)?;
            out.display_name = v.clone();
        }
        if let Some(pw) = &p.password {
            validate_password(pw)?;
        }
        if let Some(v) = p.role {
            out.role = v;
        }
        if let Some(v) = &p.post_id {
            out.post_id = v.clone();
        }
        if let Some(v) = &p.grid_id {
            out.grid_id = v.clone();
        }
        if let Some(v) = &p.phone {
            out.phone = v.clone();
        }
        if let Some(v) = &p.address {
            out.address = v.clone();
        }
        validate_contact(out.phone.as_deref(), out.address.as_deref())?;
        validate_role_ties(out.role, out.post_id.as_deref())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_user(json: &str) -> NewUser {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn responder_needs_a_post() {
        let e = new_user(r#"{"username":"wang","password":"longenough","role":"responder"}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "post_id");
        assert!(new_user(
            r#"{"username":"wang","password":"longenough","role":"responder","post_id":"p"}"#
        )
        .validate()
        .is_ok());
    }

    #[test]
    fn devices_are_not_users_and_passwords_are_long() {
        let e = new_user(r#"{"username":"btn","password":"longenough","role":"device"}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "role");
        let e = new_user(r#"{"username":"liu","password":"short","role":"resident"}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "password");
        let e = new_user(r#"{"username":"a b","password":"longenough","role":"resident"}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "username");
    }
}
