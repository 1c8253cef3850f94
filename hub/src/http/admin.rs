//! Admin CRUD over the community's records. Each kind gets the same five handlers; the store
//! does the validation and keeps the invariants (a post in a chain cannot be deleted, …).

use super::error::ApiResult;
use super::json::{Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// The five handlers for one kind of record, over the store's methods for it.
macro_rules! crud_handlers {
    ($item:ty, $new:ty, $patch:ty, $list:ident, $create:ident, $get:ident, $update:ident, $delete:ident) => {
        pub async fn list(State(s): State<AppState>) -> ApiResult<axum::Json<Vec<$item>>> {
            Ok(axum::Json(s.store.$list().await?))
        }

        pub async fn get(
            State(s): State<AppState>,
            Path(id): Path<String>,
        ) -> ApiResult<axum::Json<$item>> {
            Ok(axum::Json(s.store.$get(&id).await?))
        }

        pub async fn patch(
            State(s): State<AppState>,
            Path(id): Path<String>,
            Json(p): Json<$patch>,
        ) -> ApiResult<axum::Json<$item>> {
            Ok(axum::Json(s.store.$update(&id, p, s.now()).await?))
        }

        pub async fn delete(
            State(s): State<AppState>,
            Path(id): Path<String>,
        ) -> ApiResult<StatusCode> {
            s.store.$delete(&id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

/// Create: 201 with the new record.
macro_rules! create_handler {
    ($item:ty, $new:ty, $create:ident) => {
        pub async fn create(
            State(s): State<AppState>,
            Json(new): Json<$new>,
        ) -> ApiResult<(StatusCode, axum::Json<$item>)> {
            Ok((
                StatusCode::CREATED,
                axum::Json(s.store.$create(new, s.now()).await?),
            ))
        }
    };
}

pub mod posts {
    use super::*;
    use gridwatch_core::post::{NewPost, Post, PostPatch};
    crud_handlers!(
        Post,
        NewPost,
        PostPatch,
        posts,
        create_post,
        post,
        update_post,
        delete_post
    );
    create_handler!(Post, NewPost, create_post);
}

pub mod grids {
    //! A grid's own response windows are checked against the centre's here, where both are
    //! known: a grid whose at-risk time comes after its response window would never warn
    //! before the promise is broken (routing would fall back to the centre's windows, with
    //! only a log line to say so).
    use super::*;
    use gridwatch_core::grid::{Grid, GridPatch, NewGrid};

    pub async fn list(State(s): State<AppState>) -> ApiResult<axum::Json<Vec<Grid>>> {
        Ok(axum::Json(s.store.grids().await?))
    }

    pub async fn get(
        State(s): State<AppState>,
        Path(id): Path<String>,
    ) -> ApiResult<axum::Json<Grid>> {
        Ok(axum::Json(s.store.grid(&id).await?))
    }

    pub async fn create(
        State(s): State<AppState>,
        Json(new): Json<NewGrid>,
    ) -> ApiResult<(StatusCode, axum::Json<Grid>)> {
        s.incidents.policy.with_overrides(
            new.response_minutes,
            new.ack_minutes,
            new.at_risk_minutes,
        )?;
        Ok((
            StatusCode::CREATED,
            axum::Json(s.store.create_grid(new, s.now()).await?),
        ))
    }

    pub async fn patch(
        State(s): State<AppState>,
        Path(id): Path<String>,
        Json(p): Json<GridPatch>,
    ) -> ApiResult<axum::Json<Grid>> {
        let after = s.store.grid(&id).await?.patched(p.clone())?;
        s.incidents.policy.for_grid(&after)?;
        Ok(axum::Json(s.store.update_grid(&id, p, s.now()).await?))
    }

    pub async fn delete(
        State(s): State<AppState>,
        Path(id): Path<String>,
    ) -> ApiResult<StatusCode> {
        s.store.delete_grid(&id).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

pub mod users {
    use super::*;
    use gridwatch_core::user::{NewUser, User, UserPatch};
    crud_handlers!(
        User,
        NewUser,
        UserPatch,
        users,
        create_user,
        user,
        update_user,
        delete_user
    );
    create_handler!(User, NewUser, create_user);
}

/// Cameras answer with their live status and tell the ingest of every change: see
/// [`crate::http::cameras`].
pub mod cameras {
    pub use crate::http::cameras::{create, delete, get, list, patch};
}

pub mod devices {
    use super::*;
    use gridwatch_core::device::{Device, DevicePatch, NewDevice};
    use serde_json::{json, Value};
    crud_handlers!(
        Device,
        NewDevice,
        DevicePatch,
        devices,
        create_device,
        device,
        update_device,
        delete_device
    );

    /// 201 `{"device", "token"}`: the token is shown this once; only its hash is kept.
    pub async fn create(
        State(s): State<AppState>,
        Json(new): Json<NewDevice>,
    ) -> ApiResult<(StatusCode, axum::Json<Value>)> {
        let (device, token) = s.store.create_device(new, s.now()).await?;
        Ok((
            StatusCode::CREATED,
            axum::Json(json!({"device": device, "token": token})),
        ))
    }

    pub async fn rotate_token(
        State(s): State<AppState>,
        Path(id): Path<String>,
    ) -> ApiResult<(StatusCode, axum::Json<Value>)> {
        let token = s.store.rotate_device_token(&id, s.now()).await?;
        let device = s.store.device(&id).await?;
        Ok((
            StatusCode::CREATED,
            axum::Json(json!({"device": device, "token": token})),
        ))
    }
}
