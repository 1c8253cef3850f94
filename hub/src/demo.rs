//! `gridwatch demo`: a small community to look at, on the embedded database.
//!
//! 清江社区 (Qingjiang community, Kaili) in three grids, each with a polygon and a chain of
//! posts, one user of each role and two panic buttons. Seeding happens once per database; a
//! second run reuses it and issues fresh device tokens so they can be printed again.

use gridwatch_core::clock::Clock;
use gridwatch_core::dewarp::DewarpCalibration;
use gridwatch_store::{Store, StoreError};
use serde_json::json;

/// Logins of the demo users. Fixed so that a newcomer can type them; the demo is meant for a
/// laptop, never for a centre.
pub const DEMO_USERS: &[(&str, &str, &str, &str)] = &[
    ("admin", "admin-demo", "admin", "管理员 Admin"),
    (
        "duty",
        "duty-demo",
        "duty_officer",
        "值班员 李明 (duty officer)",
    ),
    (
        "officer",
        "officer-demo",
        "responder",
        "清江警务室 王警官 (police post)",
    ),
    (
        "worker",
        "worker-demo",
        "responder",
        "网格员 张芳 (grid worker)",
    ),
    (
        "resident",
        "resident-demo",
        "resident",
        "居民 陈阿姨 (resident)",
    ),
];

/// What was seeded, for printing.
pub struct DemoCommunity {
    pub grids: Vec<(String, String)>,
    pub devices: Vec<(String, String, String)>,
    pub seeded_now: bool,
}

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("demo data is valid")
}

/// A square grid cell around (lon, lat), as a GeoJSON polygon.
fn cell(lon: f64, lat: f64, w: f64, h: f64) -> serde_json::Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]
    ]]})
}

pub async fn seed(store: &Store, clock: &dyn Clock) -> Result<DemoCommunity, StoreError> {
    let now = clock.now();
    let seeded_now = store.grids().await?.is_empty();
    if seeded_now {
        let police = store
            .create_post(from(json!({"name": "清江警务室 Qingjiang police post", "lat": 26.5715, "lon": 107.9805, "phone": "0855-110"})), now)
            .await?;
        let team_a = store
            .create_post(
                from(json!({"name": "网格员一队 Grid team A", "lat": 26.5730, "lon": 107.9780, "phone": "0855-8261101"})),
                now,
            )
            .await?;
        let team_b = store
            .create_post(
                from(json!({"name": "网格员二队 Grid team B", "lat": 26.5700, "lon": 107.9830, "phone": "0855-8261102"})),
                now,
            )
            .await?;
        let (w, h) = (0.004, 0.003);
        let grids = [
            (
                "第一网格 Grid 1",
                cell(107.9760, 26.5710, w, h),
                vec![&team_a.id, &police.id],
            ),
            (
                "第二网格 Grid 2",
                cell(107.9800, 26.5710, w, h),
                vec![&police.id, &team_b.id],
            ),
            (
                "第三网格 Grid 3",
                cell(107.9780, 26.5680, w, h),
                vec![&team_b.id, &police.id],
            ),
        ];
        let mut grid_ids = vec![];
        for (name, polygon, chain) in grids {
            let g = store
                .create_grid(
                    from(json!({"name": name, "polygon": polygon, "post_chain": chain})),
                    now,
                )
                .await?;
            grid_ids.push(g.id);
        }
        for (username, password, role, display) in DEMO_USERS {
            let post = match *username {
                "officer" => Some(&police.id),
                "worker" => Some(&team_a.id),
                _ => None,
            };
            let grid = (*role == "resident").then(|| &grid_ids[0]);
            // The resident can be called back and found.
            let (phone, address) = match *role {
                "resident" => (Some("138 0855 0001"), Some("清江小区1栋2单元501")),
                _ => (None, None),
            };
            store
                .create_user(
                    from(
                        json!({"username": username, "password": password, "role": role,
                        "display_name": display, "post_id": post, "grid_id": grid,
                        "phone": phone, "address": address}),
                    ),
                    now,
                )
                .await?;
        }
        for (name, grid, lat, lon, address) in [
            (
                "1栋大堂报警按钮 Lobby button, block 1",
                &grid_ids[0],
                26.5725,
                107.9775,
                "清江小区1栋大堂",
            ),
            (
                "广场报警柱 Square alarm pillar",
                &grid_ids[1],
                26.5722,
                107.9815,
                "清江广场东侧",
            ),
        ] {
            store
                .create_device(
                    from(json!({"name": name, "grid_id": grid, "lat": lat, "lon": lon, "address": address})),
                    now,
                )
                .await?;
        }
    }
    let grids = store
        .grids()
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let mut devices = vec![];
    for d in store.devices().await? {
        let token = store.rotate_device_token(&d.id, now).await?;
        devices.push((d.id, d.name, token));
    }
    Ok(DemoCommunity {
        grids,
        devices,
        seeded_now,
    })
}

/// The demo's simulated cameras: name, (lat, lon), panoramic.
pub const DEMO_CAMERAS: &[(&str, (f64, f64), bool)] = &[
    ("小区东门 360° East gate", (26.5724, 107.9798), true),
    ("清江广场 360° Square", (26.5722, 107.9815), true),
    ("1栋大堂 Lobby, block 1", (26.5726, 107.9776), false),
    ("南侧停车场 South car park", (26.5693, 107.9800), false),
];

/// Registers the simulated cameras (or points the existing ones at this run's simulator, whose
/// port changes from run to run).
pub async fn register_cameras(
    store: &Store,
    clock: &dyn Clock,
    urls: &[String],
) -> Result<(), StoreError> {
    let now = clock.now();
    let grids = store.grids().await?;
    let existing = store.cameras().await?;
    for ((name, (lat, lon), panoramic), url) in DEMO_CAMERAS.iter().zip(urls) {
        let grid = grids
            .iter()
            .find(|g| g.covers(*lat, *lon))
            .map(|g| g.id.clone());
        match existing.iter().find(|c| c.name == *name) {
            Some(c) => {
                store
                    .update_camera(&c.id, from(json!({"rtsp_url": url})), now)
                    .await?;
            }
            None => {
                let camera = store
                    .create_camera(
                        from(json!({"name": name, "rtsp_url": url, "grid_id": grid,
                            "lat": lat, "lon": lon, "panoramic": panoramic})),
                        now,
                    )
                    .await?;
                if *name == DEMO_CAMERAS[0].0 {
                    // One calibrated 360° camera, so the wall's dewarped tile and the
                    // calibration page have numbers that were set, not the default.
                    let calibration = DewarpCalibration {
                        orientation: 45.0,
                        ..DewarpCalibration::default()
                    };
                    store
                        .set_camera_dewarp(&camera.id, &calibration, now)
                        .await?;
                }
            }
        }
    }
    Ok(())
}
