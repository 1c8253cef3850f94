-- The community: posts, grids, people, devices, cameras; and who is logged in.
-- Times are milliseconds since the Unix epoch (UTC), the same in both dialects.
-- Foreign keys without ON DELETE refuse to delete what is still referred to (NO ACTION):
-- SQLite reports RESTRICT as a trigger failure, which tells the caller less.

CREATE TABLE posts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    phone       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE grids (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    polygon          TEXT,            -- GeoJSON Polygon
    post_chain       TEXT NOT NULL,   -- JSON array of post ids, first responder first
    response_minutes INTEGER,
    ack_minutes      INTEGER,
    at_risk_minutes  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Which posts each grid's chain names, kept beside the JSON so that a post in use cannot be
-- deleted (the foreign key says so) and "grids covered by a post" is one indexed query.
CREATE TABLE grid_posts (
    grid_id   TEXT NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
    post_id   TEXT NOT NULL REFERENCES posts(id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (grid_id, position)
);
CREATE INDEX grid_posts_post ON grid_posts(post_id);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin','duty_officer','responder','resident')),
    password_hash  TEXT NOT NULL,
    post_id        TEXT REFERENCES posts(id),
    grid_id        TEXT REFERENCES grids(id),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Session tokens are random; only their SHA-256 is kept.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    grid_id     TEXT NOT NULL REFERENCES grids(id),
    lat         REAL,
    lon         REAL,
    address     TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE cameras (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    rtsp_url      TEXT NOT NULL,
    sub_rtsp_url  TEXT,
    grid_id       TEXT REFERENCES grids(id),
    lat           REAL,
    lon           REAL,
    heading       REAL,
    panoramic     BOOLEAN NOT NULL,
    enabled       BOOLEAN NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- RTSP credentials, apart from the camera row so that no listing can select them by accident.
CREATE TABLE camera_credentials (
    camera_id  TEXT PRIMARY KEY REFERENCES cameras(id) ON DELETE CASCADE,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL
);
