//! The store suite: every test runs twice, on SQLite in a temporary directory and on the real
//! PostgreSQL of this machine (a fresh database each time).

use chrono::{DateTime, Duration, Utc};
use gridwatch_core::camera::{CameraPatch, NewCamera};
use gridwatch_core::device::{DevicePatch, NewDevice};
use gridwatch_core::grid::{GridPatch, NewGrid};
use gridwatch_core::post::{NewPost, PostPatch};
use gridwatch_core::user::{NewUser, UserPatch};
use gridwatch_core::Role;

use gridwatch_store::{Store, StoreError};
use serde_json::json;

use gridwatch_store::on_both;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn post(store: &Store, name: &str) -> String {
    store
        .create_post(
            from(json!({"name": name, "lat": 26.57, "lon": 107.98})),
            t0(),
        )
        .await
        .unwrap()
        .id
}

async fn grid(store: &Store, name: &str, chain: &[&str]) -> String {
    store
        .create_grid(from(json!({"name": name, "post_chain": chain})), t0())
        .await
        .unwrap()
        .id
}

on_both!(
    ready_after_open_and_migrations_idempotent,
    |store: Store| async move {
        store.ready().await.unwrap();
        store.migrate().await.unwrap();
        store.ready().await.unwrap();
    }
);

on_both!(posts_crud, |store: Store| async move {
    let new: NewPost =
        from(json!({"name": "清江警务室", "lat": 26.57, "lon": 107.98, "phone": "110"}));
    let p = store.create_post(new, t0()).await.unwrap();
    assert_eq!(store.post(&p.id).await.unwrap(), p);
    let patch: PostPatch = from(json!({"phone": null, "name": "清江社区警务室"}));
    let later = t0() + Duration::minutes(1);
    let q = store.update_post(&p.id, patch, later).await.unwrap();
    assert_eq!(q.phone, None);
    assert_eq!(q.updated_at, later);
    assert_eq!(store.post(&p.id).await.unwrap(), q);
    assert_eq!(store.posts().await.unwrap(), vec![q.clone()]);
    store.delete_post(&p.id).await.unwrap();
    assert!(matches!(
        store.post(&p.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_post(&p.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let bad: NewPost = from(json!({"name": "", "lat": 1.0, "lon": 1.0}));
    assert!(matches!(
        store.create_post(bad, t0()).await,
        Err(StoreError::Invalid(_))
    ));
});

on_both!(
    grids_keep_their_chain_and_protect_posts,
    |store: Store| async move {
        let a = post(&store, "A").await;
        let b = post(&store, "B").await;
        let new: NewGrid = from(json!({
            "name": "一网格",
            "polygon": {"type": "Polygon", "coordinates": [[[107.9, 26.5], [108.0, 26.5], [108.0, 26.6], [107.9, 26.5]]]},
            "post_chain": [a, b],
            "response_minutes": 15
        }));
        let g = store.create_grid(new, t0()).await.unwrap();
        let got = store.grid(&g.id).await.unwrap();
        assert_eq!(got, g);
        assert_eq!(got.post_chain, vec![a.clone(), b.clone()]);
        assert!(got.polygon.is_some());
        assert_eq!(store.grids_of_post(&b).await.unwrap(), vec![g.id.clone()]);

        // A post in a chain cannot be deleted.
        let r = store.delete_post(&a).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
        // A chain naming an unknown post is bad input.
        let bad: GridPatch = from(json!({"post_chain": ["nope"]}));
        match store.update_grid(&g.id, bad, t0()).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, "post_chain"),
            other => panic!("{other:?}"),
        }
        // Reordering the chain frees nothing until the post leaves it.
        let patch: GridPatch = from(json!({"post_chain": [b], "polygon": null}));
        let g2 = store.update_grid(&g.id, patch, t0()).await.unwrap();
        assert_eq!(g2.post_chain, vec![b.clone()]);
        assert_eq!(g2.polygon, None);
        assert_eq!(store.grid(&g.id).await.unwrap(), g2);
        store.delete_post(&a).await.unwrap();
        assert!(store.grids_of_post(&a).await.unwrap().is_empty());

        // Names are unique.
        let dup: NewGrid = from(json!({"name": "一网格"}));
        assert!(matches!(
            store.create_grid(dup, t0()).await,
            Err(StoreError::Conflict(_))
        ));
        store.delete_grid(&g.id).await.unwrap();
        assert_eq!(store.grids().await.unwrap(), vec![]);
    }
);

on_both!(users_passwords_and_sessions, |store: Store| async move {
    let p = post(&store, "警务室").await;
    let new: NewUser = from(json!({
        "username": "wang.officer", "password": "s3cret-pass", "role": "responder",
        "display_name": "王警官", "post_id": p
    }));
    let u = store.create_user(new, t0()).await.unwrap();
    assert_eq!(u.role, Role::Responder);
    assert_eq!(store.user_by_username("wang.officer").await.unwrap(), u);

    assert_eq!(
        store
            .check_password("wang.officer", "s3cret-pass")
            .await
            .unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        store
            .check_password("wang.officer", "wrong-pass")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.check_password("nobody", "s3cret-pass").await.unwrap(),
        None
    );

    // Sessions: live, expired, revoked.
    let s = store
        .open_session(u.clone(), Duration::hours(12), t0())
        .await
        .unwrap();
    assert_eq!(
        store.session_user(&s.token, t0()).await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        store
            .session_user(&s.token, t0() + Duration::hours(13))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.session_user("gws_forged", t0()).await.unwrap(), None);
    store.revoke_session(&s.token).await.unwrap();
    assert_eq!(store.session_user(&s.token, t0()).await.unwrap(), None);

    // A new password revokes every session.
    let s1 = store
        .open_session(u.clone(), Duration::hours(12), t0())
        .await
        .unwrap();
    let s2 = store
        .open_session(u.clone(), Duration::hours(12), t0())
        .await
        .unwrap();
    let patch: UserPatch = from(json!({"password": "another-pass"}));
    store.update_user(&u.id, patch, t0()).await.unwrap();
    assert_eq!(store.session_user(&s1.token, t0()).await.unwrap(), None);
    assert_eq!(store.session_user(&s2.token, t0()).await.unwrap(), None);
    assert!(store
        .check_password("wang.officer", "another-pass")
        .await
        .unwrap()
        .is_some());

    // Usernames are unique; a responder needs an existing post.
    let dup: NewUser =
        from(json!({"username": "wang.officer", "password": "xxxxxxxx", "role": "admin"}));
    assert!(matches!(
        store.create_user(dup, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    let ghost: NewUser = from(
        json!({"username": "li", "password": "xxxxxxxx", "role": "responder", "post_id": "nope"}),
    );
    assert!(matches!(
        store.create_user(ghost, t0()).await,
        Err(StoreError::Invalid(_))
    ));

    // Deleting the user ends its sessions.
    let s3 = store
        .open_session(u.clone(), Duration::hours(12), t0())
        .await
        .unwrap();
    store.delete_user(&u.id).await.unwrap();
    assert_eq!(store.session_user(&s3.token, t0()).await.unwrap(), None);
    assert!(matches!(store.delete_post(&p).await, Ok(())));
});

on_both!(expired_sessions_are_purged, |store: Store| async move {
    let u = store
        .create_user(
            from(json!({"username": "duty", "password": "xxxxxxxx", "role": "duty_officer"})),
            t0(),
        )
        .await
        .unwrap();
    store
        .open_session(u.clone(), Duration::minutes(5), t0())
        .await
        .unwrap();
    let keep = store
        .open_session(u.clone(), Duration::hours(5), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .purge_expired_sessions(t0() + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .session_user(&keep.token, t0())
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.revoke_user_sessions(&u.id).await.unwrap(), 1);
});

on_both!(devices_and_their_tokens, |store: Store| async move {
    let g = grid(&store, "二网格", &[]).await;
    let new: NewDevice = from(json!({"name": "3栋报警按钮", "grid_id": g, "address": "3栋1单元"}));
    let (d, token) = store.create_device(new, t0()).await.unwrap();
    assert!(token.starts_with("gwd_"));
    assert_eq!(
        store.device_by_token(&token).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(store.device_by_token("gwd_forged").await.unwrap(), None);

    let fresh = store.rotate_device_token(&d.id, t0()).await.unwrap();
    assert_eq!(store.device_by_token(&token).await.unwrap(), None);
    assert_eq!(
        store.device_by_token(&fresh).await.unwrap().unwrap().id,
        d.id
    );

    let patch: DevicePatch = from(json!({"lat": 26.5, "lon": 107.9}));
    let d2 = store.update_device(&d.id, patch, t0()).await.unwrap();
    assert_eq!((d2.lat, d2.lon), (Some(26.5), Some(107.9)));
    let bad: DevicePatch = from(json!({"grid_id": "nope"}));
    assert!(matches!(
        store.update_device(&d.id, bad, t0()).await,
        Err(StoreError::Invalid(_))
    ));
    // The grid cannot go while the device is in it.
    assert!(matches!(
        store.delete_grid(&g).await,
        Err(StoreError::Conflict(_))
    ));
    store.delete_device(&d.id).await.unwrap();
    assert_eq!(store.devices().await.unwrap(), vec![]);
    store.delete_grid(&g).await.unwrap();
});

on_both!(cameras_keep_credentials_apart, |store: Store| async move {
    let g = grid(&store, "三网格", &[]).await;
    let new: NewCamera = from(json!({
        "name": "东门360", "rtsp_url": "rtsp://127.0.0.1:8554/cam1", "grid_id": g,
        "username": "admin", "password": "cam-pass", "panoramic": true, "lat": 26.5, "lon": 107.9
    }));
    let c = store.create_camera(new, t0()).await.unwrap();
    assert!(c.has_credentials && c.panoramic && c.enabled);
    assert_eq!(store.camera(&c.id).await.unwrap(), c);
    let creds = store.camera_credentials(&c.id).await.unwrap().unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.as_str()),
        ("admin", "cam-pass")
    );
    // Nothing that lists cameras can leak the password.
    let listed = serde_json::to_string(&store.cameras().await.unwrap()).unwrap();
    assert!(!listed.contains("cam-pass"));

    let patch: CameraPatch =
        from(json!({"enabled": false, "username": "viewer", "password": "p2"}));
    let c2 = store.update_camera(&c.id, patch, t0()).await.unwrap();
    assert!(!c2.enabled && c2.has_credentials);
    assert_eq!(
        store
            .camera_credentials(&c.id)
            .await
            .unwrap()
            .unwrap()
            .username,
        "viewer"
    );
    let clear: CameraPatch = from(json!({"username": null, "password": null}));
    let c3 = store.update_camera(&c.id, clear, t0()).await.unwrap();
    assert!(!c3.has_credentials);
    assert_eq!(store.camera(&c.id).await.unwrap(), c3);
    assert_eq!(store.camera_credentials(&c.id).await.unwrap(), None);

    let leaky: NewCamera = from(json!({"name": "x", "rtsp_url": "rtsp://u:p@10.0.0.1/"}));
    assert!(matches!(
        store.create_camera(leaky, t0()).await,
        Err(StoreError::Invalid(_))
    ));
    store.delete_camera(&c.id).await.unwrap();
    assert!(matches!(
        store.camera(&c.id).await,
        Err(StoreError::NotFound { .. })
    ));
});

on_both!(
    cameras_keep_transport_quirks_and_user_agent,
    |store: Store| async move {
        use gridwatch_core::camera::CameraTransport;
        // A camera created without them: TCP, no quirks (as existing rows after the migration).
        let plain: NewCamera = from(json!({"name": "南门", "rtsp_url": "rtsp://10.0.0.2/main"}));
        let plain = store.create_camera(plain, t0()).await.unwrap();
        assert_eq!(plain.transport, CameraTransport::Tcp);
        assert!(plain.quirks.is_empty());
        assert_eq!(store.camera(&plain.id).await.unwrap(), plain);

        let new: NewCamera = from(json!({
            "name": "北门", "rtsp_url": "rtsp://10.0.0.3/main", "transport": "udp",
            "quirks": ["always_teardown", "ignore_rtptime"]
        }));
        let c = store.create_camera(new, t0()).await.unwrap();
        assert_eq!(c.transport, CameraTransport::Udp);
        // Canonical order, whatever order they came in.
        assert_eq!(c.quirks, ["ignore_rtptime", "always_teardown"]);
        assert_eq!(store.camera(&c.id).await.unwrap(), c);
        let listed = store.cameras().await.unwrap();
        assert_eq!(listed.iter().find(|x| x.id == c.id), Some(&c));

        // A patch of other fields leaves them alone; a patch of them replaces them.
        let renamed = store
            .update_camera(&c.id, from(json!({"name": "北门2"})), t0())
            .await
            .unwrap();
        assert_eq!(
            (renamed.transport, renamed.quirks.clone()),
            (c.transport, c.quirks.clone())
        );
        let switched = store
            .update_camera(
                &c.id,
                from(json!({"transport": "tcp", "quirks": ["use_first_session_id"]})),
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(switched.transport, CameraTransport::Tcp);
        assert_eq!(switched.quirks, ["use_first_session_id"]);
        assert_eq!(store.camera(&c.id).await.unwrap(), switched);
        let cleared = store
            .update_camera(&c.id, from(json!({"quirks": []})), t0())
            .await
            .unwrap();
        assert!(cleared.quirks.is_empty());
        assert_eq!(store.camera(&c.id).await.unwrap(), cleared);

        // A User-Agent of its own, kept; `null` goes back to the hub's.
        assert_eq!(plain.user_agent, None);
        let ua = store
            .update_camera(
                &c.id,
                from(json!({"user_agent": "HikvisionClient/1.0"})),
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(ua.user_agent.as_deref(), Some("HikvisionClient/1.0"));
        assert_eq!(store.camera(&c.id).await.unwrap(), ua);
        let cleared = store
            .update_camera(&c.id, from(json!({"user_agent": null})), t0())
            .await
            .unwrap();
        assert_eq!(cleared.user_agent, None);
        assert_eq!(store.camera(&c.id).await.unwrap(), cleared);

        // Unknown values are refused with the field named, and nothing changes.
        for (body, field) in [
            (json!({"transport": "rtp"}), "transport"),
            (
                json!({"quirks": ["ignore_rtptime", "dahua_magic"]}),
                "quirks",
            ),
            // It goes into an RTSP header line as is.
            (json!({"user_agent": "x\r\nCSeq: 9"}), "user_agent"),
            (json!({"user_agent": ""}), "user_agent"),
        ] {
            match store.update_camera(&c.id, from(body), t0()).await {
                Err(StoreError::Invalid(e)) => assert_eq!(e.field, field),
                other => panic!("expected a {field} error, got {other:?}"),
            }
        }
        let bad: NewCamera =
            from(json!({"name": "x", "rtsp_url": "rtsp://h/", "transport": "UDP"}));
        assert!(matches!(
            store.create_camera(bad, t0()).await,
            Err(StoreError::Invalid(e)) if e.field == "transport"
        ));
        assert_eq!(store.camera(&c.id).await.unwrap(), cleared);
    }
);
